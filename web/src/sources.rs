//! Model files from a URL (fetched) or from bytes the caller already has.

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// `source`: a URL (a string or a `URL` object), a `Uint8Array` or an `ArrayBuffer`. `what`
/// names it in errors.
pub async fn bytes(source: &JsValue, what: &str) -> Result<Vec<u8>, String> {
    if let Some(url) = source.as_string().or_else(|| source.dyn_ref::<web_sys::Url>().map(web_sys::Url::href)) {
        return fetch(&url).await.map_err(|e| format!("{what}: cannot fetch {url}: {e}"));
    }
    if let Some(array) = source.dyn_ref::<Uint8Array>() {
        return Ok(array.to_vec());
    }
    if let Some(buffer) = source.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err(format!("{what}: expected a URL (string or URL object), a Uint8Array or an ArrayBuffer"))
}

async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window to fetch from")?;
    let js_err = |e: JsValue| {
        e.as_string().or_else(|| js_sys::Error::from(e).message().as_string()).unwrap_or_else(|| "network error".into())
    };
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str(url)).await.map_err(js_err)?.unchecked_into();
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(js_err)?).await.map_err(js_err)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
