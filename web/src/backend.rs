//! Where the models run: WebGPU through burn-wgpu when the browser offers an adapter, else
//! burn's CPU backend (burn-flex) in WebAssembly, with a notice saying so. A module built
//! without the `webgpu` feature runs on the CPU only.

use crate::engine::{Engine, Models};
use burn::prelude::Device;
use js_sys::Reflect;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Choice {
    Auto,
    WebGpu,
    Cpu,
}

impl Choice {
    pub fn parse(name: Option<&str>) -> Result<Self, String> {
        match name.unwrap_or("auto") {
            "auto" => Ok(Choice::Auto),
            "webgpu" => Ok(Choice::WebGpu),
            "cpu" => Ok(Choice::Cpu),
            other => Err(format!("backend must be \"auto\", \"webgpu\" or \"cpu\", not \"{other}\"")),
        }
    }
}

pub struct Loaded {
    pub engine: Rc<dyn Engine>,
    /// e.g. "webgpu (SwiftShader Device (Subzero))" or "cpu (WebAssembly)".
    pub backend: String,
    /// Why the CPU runs the models when WebGPU was wanted.
    pub notice: Option<String>,
}

/// The browser's WebGPU adapter, as it describes itself.
struct Adapter {
    /// e.g. "google swiftshader"
    label: String,
    /// A software rasteriser (SwiftShader): slower than the CPU backend in WebAssembly.
    software: bool,
}

fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Asks the browser for a WebGPU adapter itself: burn would abort the whole module without one.
async fn webgpu_adapter() -> Result<Adapter, String> {
    let gpu = field(&field(&js_sys::global(), "navigator"), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU (navigator.gpu is missing)".into());
    }
    let request: js_sys::Function = field(&gpu, "requestAdapter").into();
    let promise: js_sys::Promise = request.call0(&gpu).map_err(|_| "requestAdapter failed")?.into();
    let adapter = match JsFuture::from(promise).await {
        Ok(adapter) if !adapter.is_null() && !adapter.is_undefined() => adapter,
        _ => return Err("WebGPU offers no adapter on this device".into()),
    };
    let info = field(&adapter, "info");
    let words: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| field(&info, k).as_string())
        .filter(|w| !w.is_empty())
        .collect();
    let label = if words.is_empty() { "unnamed adapter".to_string() } else { words.join(" ") };
    let software = field(&info, "isFallbackAdapter")
        .as_bool()
        .or_else(|| field(&adapter, "isFallbackAdapter").as_bool())
        .unwrap_or(false);
    Ok(Adapter { label, software })
}

/// Whether this module can run the models on WebGPU (the `webgpu` feature).
const HAS_WEBGPU: bool = cfg!(feature = "webgpu");

const CPU_ONLY: &str = "this is the package's CPU-only module (hypernoise_web_cpu.js): WebGPU needs hypernoise_web.js";

/// The generator on the backend `choice` asks for (the other models are added to it later).
pub async fn load(choice: Choice, generator: &[u8]) -> Result<Loaded, String> {
    let webgpu = match choice {
        Choice::Cpu => Err("the CPU backend was requested".to_string()),
        Choice::Auto => webgpu_adapter().await.and_then(|a| {
            if a.software {
                // measured here: SwiftShader took 1.6 s an image, the CPU in WebAssembly 0.12 s
                Err(format!("WebGPU offers only a software adapter ({})", a.label))
            } else if !HAS_WEBGPU {
                Err(format!("WebGPU ({}) is not used by the CPU-only module", a.label))
            } else {
                Ok(a)
            }
        }),
        Choice::WebGpu if !HAS_WEBGPU => Err(CPU_ONLY.to_string()),
        Choice::WebGpu => webgpu_adapter().await,
    };
    match webgpu {
        Ok(adapter) => on_webgpu(adapter, generator).await,
        Err(why) if choice == Choice::WebGpu => Err(why),
        Err(why) => {
            let pipeline = Models::load(generator, &Device::flex())?;
            let notice = (choice == Choice::Auto).then(|| format!("{why}: running on the CPU in WebAssembly instead"));
            Ok(Loaded { engine: Rc::new(pipeline), backend: "cpu (WebAssembly)".into(), notice })
        }
    }
}

#[cfg(feature = "webgpu")]
async fn on_webgpu(adapter: Adapter, generator: &[u8]) -> Result<Loaded, String> {
    let device = Device::wgpu_options().init_async().await.map_err(|e| format!("WebGPU ({}): {e}", adapter.label))?;
    let pipeline = Models::load(generator, &device)?;
    Ok(Loaded { engine: Rc::new(pipeline), backend: format!("webgpu ({})", adapter.label), notice: None })
}

/// Never called: `load` asks for WebGPU only where the module has it.
#[cfg(not(feature = "webgpu"))]
async fn on_webgpu(_: Adapter, _: &[u8]) -> Result<Loaded, String> {
    Err(CPU_ONLY.to_string())
}
