// Types of the HyperNoise browser package.

/** A model file: a URL, or its bytes. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

export interface LoadOptions {
  generator?: ModelSource;
  hypernetwork?: ModelSource;
  reward?: ModelSource;
  /** "auto" (default): WebGPU, else the CPU with `notice` saying why; or force one. */
  backend?: 'auto' | 'webgpu' | 'cpu';
}

/** RGBA pixels, as `ImageData` wants them. */
export interface Picture { width: number; height: number; rgba: Uint8Array; }

/** The exact evaluator's judgement of an image against its prompt. */
export interface Verdict {
  correct: boolean;
  /** "correct", or why not in words. */
  reason: string;
  category: string;
  detections: Array<{ shape: string; colour: string; count?: number; [key: string]: unknown }>;
}

export interface GenerateRequest {
  prompt: string;
  /** A whole number from 0 to 2^53-1; the same seed gives the same noise everywhere. */
  seed?: number;
  /** Run the noise hypernetwork: z' = z + strength * f(z, prompt). */
  hypernoise?: boolean;
  /** Scale of f: 0 = the base image, 1 = as trained, at most 2 (the page's slider). */
  strength?: number;
}

export interface Generated {
  image: Picture;
  /** The noise the generator received, shown at +-3 standard deviations. */
  noise: Picture;
  /** The hypernetwork's change to the noise, shown at +-offsetScale (hypernoise only). */
  offset: Picture | null;
  offsetScale: number | null;
  /** Root mean square of strength * f (the noise itself has 1). */
  offsetRms: number | null;
  /** What computed f, in words (hypernoise only): the LoRA or the light hypernetwork. */
  hypernetwork: string | null;
  verdict: Verdict;
  /** Prompt to pixels read back. */
  timings: { generateMs: number };
}

export interface ScoreRequest { prompt: string; image: Picture; }

export interface RenoRequest { prompt: string; seed?: number; /** default 50 (the paper's) */ iterations?: number; }

export interface RenoUpdate {
  /** 0 = the initial noise. */
  iteration: number;
  iterations: number;
  /** Reward at this iteration. */
  reward: number;
  /** The best image so far (ReNO returns the best it saw) and its reward. */
  best: Picture;
  bestReward: number;
  verdict: Verdict;
  elapsedMs: number;
  done: boolean;
}

export declare class RenoSession {
  /** One ReNO iteration (await each before the next). */
  step(): Promise<RenoUpdate>;
  free(): void;
}

export declare class HyperNoise {
  /** Resolves once the generator is loaded; the hypernetwork and the reward load when first needed. */
  static load(options: Required<Pick<LoadOptions, 'generator'>> & LoadOptions): Promise<HyperNoise>;
  /** Loads the hypernetwork and the reward now (each at most once). */
  preload(): Promise<void>;
  /** e.g. "webgpu (...)" or "cpu (WebAssembly)". */
  readonly backend: string;
  /** Set when WebGPU was wanted but is unavailable, saying why. */
  readonly notice: string | undefined;
  /** Image side in pixels. */
  readonly resolution: number;
  /** Rejects with a readable Error for unknown words or bad input. */
  generate(request: GenerateRequest): Promise<Generated>;
  /** The learned reward of a picture for a prompt (loads the reward on first use). */
  score(request: ScoreRequest): Promise<number>;
  /** Loads the reward on first use. */
  startReno(request: RenoRequest): Promise<RenoSession>;
  free(): void;
}

export interface PromptInfo { text: string; category: string; split: 'train' | 'val' | 'eval' | null; }

export interface InitialiseOptions {
  /** Which build of the module to fetch: "cpu" the CPU-only one (a quarter of the download), "webgpu"
   * the one with WebGPU, "auto" (default) the WebGPU one only where a hardware adapter exists. */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** Your own URL or bytes of that build's `_bg.wasm`. */
  wasm?: string | URL | BufferSource;
}

/** Fetches and instantiates the module (once: later calls share the first one's); resolves to the
 * build's name, "hypernoise_web" or "hypernoise_web_cpu". The functions below exist after it. */
export declare function initialise(options?: InitialiseOptions): Promise<'hypernoise_web' | 'hypernoise_web_cpu'>;
/** Loads the models on the initialised build; `backend: 'webgpu'` on a page initialised with the
 * CPU-only build fetches the WebGPU build beside it. */
export declare function loadHyperNoise(options?: LoadOptions): Promise<HyperNoise>;
/** Whether the browser offers a hardware WebGPU adapter (a software one runs slower than the CPU). */
export declare function hardwareWebGpu(): Promise<boolean>;
export declare function runReno(model: HyperNoise, request: RenoRequest, onStep?: (u: RenoUpdate) => void): Promise<RenoUpdate>;
export declare function drawPicture(canvas: HTMLCanvasElement | OffscreenCanvas, picture: Picture): void;
/** The words prompts may use. */
export declare let vocabulary: () => string[];
/** Canonical text, task type and split of a prompt; throws a readable Error for unknown words. */
export declare let describePrompt: (prompt: string) => PromptInfo;
/** The world's ground-truth scene for a prompt and seed. */
export declare let renderScene: (prompt: string, seed: number, resolution: number) => Picture;
/** The exact evaluator's verdict on RGBA pixels. */
export declare let evaluate: (prompt: string, width: number, height: number, rgba: Uint8Array) => Verdict;
