// edgebert's runtime for the browser: one dist's model run by onnxruntime-web (WASM), tokenized by
// @huggingface/tokenizers (the tokenizer transformers.js uses) from the folder's tokenizer.json, and the same
// post-processing as the Python runtime (edgebert.runtime): softmax and labels; entities from words with character
// offsets, long texts read in overlapping windows; vectors pooled inside the graph.
//
//   import { load } from "./edgebert.js";
//   const model = await load();                       // reads edgebert.json beside this file
//   await model.classify(["a gripping film"]);        // [{label: "positive", score: 0.98}]
//   await model.entities(["Angela Merkel visited Paris."]);  // [[{label: "PER", start: 0, end: 13, text, score}, …]]
//   await model.tag([["Angela", "Merkel", "visited", "Paris", "."]]);  // [["B-PER", "I-PER", "O", "B-LOC", "O"]]
//   await model.embed(["a sentence"]);                // [Float32Array(dim)]
//   await model.predict(texts);                       // rows with the fields of `edgebert predict --json`
//
// It does not run sentence pairs or regressors, and a word of a long text cut by a window's edge is given the
// span of the whole word. Threads: onnxruntime-web uses more than one only in a cross-origin isolated page
// (COOP/COEP headers), and the count is fixed by the first model loaded in the page.
import * as ort from "./ort/ort.wasm.min.mjs";
import { Tokenizer } from "./tokenizers/tokenizers.min.mjs";

const HERE = new URL(".", import.meta.url);
const TASKS = ["text-classification", "token-classification", "sentence-embedding"];

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** The model of the web folder at `base` (default: this module's folder). `threads`: WASM threads (default: up
 * to 4 where the page is cross-origin isolated, else 1). `model`: another ONNX file of the folder (timing). */
export async function load({ base = HERE, threads, model } = {}) {
  const at = (name) => new URL(name, base).href;
  const manifest = await getJson(at("edgebert.json"));
  const task = manifest.task.name;
  if (!TASKS.includes(task)) throw new Error(`edgebert.js runs ${TASKS.join(", ")}, not ${task}`);
  if (manifest.task.pairs) throw new Error("edgebert.js runs single texts; this model reads sentence pairs");
  const tokenizerConfig = manifest.web_model?.tokenizer_config;
  const [tokenizerJson, config] = await Promise.all([
    getJson(at(manifest.tokenizer.file)),
    tokenizerConfig ? getJson(at(tokenizerConfig)) : {},
  ]);
  ort.env.wasm.wasmPaths = at("ort/");
  const isolated = globalThis.crossOriginIsolated === true;
  ort.env.wasm.numThreads = threads ?? (isolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1);
  const file = model ?? manifest.web_model?.file ?? manifest.model.file;
  const session = await ort.InferenceSession.create(at(file), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  return new Model(manifest, new Tokenizer(tokenizerJson, config), session);
}

export class Model {
  constructor(manifest, tokenizer, session) {
    this.manifest = manifest;
    this.task = manifest.task.name;
    this.labels = manifest.task.labels ?? [];
    this.maxLength = manifest.task.max_length;
    this.tokenizer = tokenizer;
    this.session = session;
    this.threads = ort.env.wasm.numThreads;
    this.padId = tokenizer.token_to_id("[PAD]") ?? 0;
    // the special tokens the post-processor puts around one text ([CLS] … [SEP] for BERT)
    const marks = tokenizer.encode("", { add_special_tokens: true }).ids;
    const cls = tokenizer.encode("x", { add_special_tokens: true }).ids;
    const head = cls.findIndex((id, i) => id !== marks[i]);
    this.prefix = marks.slice(0, head);
    this.suffix = marks.slice(head);
  }

  /** Rows with the fields `edgebert predict --json` prints, for this model's task. */
  async predict(texts) {
    if (this.task === "text-classification") {
      return (await this.classify(texts)).map((p, i) => ({ text: texts[i], ...p }));
    }
    if (this.task === "token-classification") {
      return (await this.entities(texts)).map((entities, i) => ({ text: texts[i], entities }));
    }
    return (await this.embed(texts)).map((v, i) => ({ text: texts[i], vector: Array.from(v) }));
  }

  /** The label and its probability for each text. */
  async classify(texts, batchSize = 32) {
    this.#expect("text-classification", "classify");
    const out = [];
    for (let i = 0; i < texts.length; i += batchSize) {
      const rows = texts.slice(i, i + batchSize).map((t) => this.#encode(t));
      const { logits } = await this.session.run(this.#feeds(rows));
      for (const probs of softmaxRows(logits.data, logits.dims[1])) {
        const best = argmax(probs);
        out.push({ label: this.labels[best], score: probs[best] });
      }
    }
    return out;
  }

  /** A float32 vector per text, in input order (batches hold texts of similar length, as in Python). */
  async embed(texts, batchSize = 32) {
    this.#expect("sentence-embedding", "embed");
    const order = texts.map((_, i) => i).sort((a, b) => texts[a].length - texts[b].length);
    const out = new Array(texts.length);
    for (let i = 0; i < order.length; i += batchSize) {
      const rows = order.slice(i, i + batchSize);
      const result = await this.session.run(this.#feeds(rows.map((r) => this.#encode(texts[r]))));
      const { data, dims } = result.sentence_embedding;
      rows.forEach((r, k) => (out[r] = data.slice(k * dims[1], (k + 1) * dims[1])));
    }
    return out;
  }

  /** Entities with character spans (in code points, as Python counts them) in each text. */
  async entities(texts, batchSize = 32) {
    this.#expect("token-classification", "entities");
    const words = texts.map((t) => this.#words(t));
    const tagged = await this.#tagWords(words, batchSize);
    return texts.map((text, i) => groupEntities(text, words[i], tagged[i]));
  }

  /** A tag per word of pre-split sentences (a word with no pieces is tagged O). */
  async tag(sentences, batchSize = 32) {
    this.#expect("token-classification", "tag");
    const words = sentences.map((ws) => ws.map((w) => ({ pieces: this.#pieces(w), start: 0, end: 0 })));
    const tagged = await this.#tagWords(words, batchSize);
    return tagged.map((t) => t.map((w) => w?.tag ?? "O"));
  }

  #expect(task, verb) {
    if (this.task !== task) throw new Error(`${verb}() needs a ${task} model; this one is ${this.task}`);
  }

  #pieces(word) {
    return this.tokenizer.encode(word, { add_special_tokens: false }).ids;
  }

  // One text's ids, cut at max_length as the Python runtime's tokenizer cuts one sequence: the last special
  // token kept.
  #encode(text) {
    const e = this.tokenizer.encode(text, { add_special_tokens: true, return_token_type_ids: true });
    let ids = e.ids;
    let types = e.token_type_ids ?? ids.map(() => 0);
    if (ids.length > this.maxLength) {
      const keep = this.maxLength - this.suffix.length;
      ids = ids.slice(0, keep).concat(ids.slice(ids.length - this.suffix.length));
      types = types.slice(0, keep).concat(types.slice(types.length - this.suffix.length));
    }
    return { ids, types };
  }

  // A batch padded to its longest row (pad id, mask 0, type 0), only the inputs the model takes.
  #feeds(rows) {
    const length = Math.max(...rows.map((r) => r.ids.length));
    const arrays = {
      input_ids: new BigInt64Array(rows.length * length).fill(BigInt(this.padId)),
      attention_mask: new BigInt64Array(rows.length * length),
      token_type_ids: new BigInt64Array(rows.length * length),
    };
    rows.forEach((r, i) => {
      r.ids.forEach((id, j) => {
        arrays.input_ids[i * length + j] = BigInt(id);
        arrays.attention_mask[i * length + j] = 1n;
        arrays.token_type_ids[i * length + j] = BigInt(r.types[j] ?? 0);
      });
    });
    const feeds = {};
    for (const name of this.session.inputNames) {
      feeds[name] = new ort.Tensor("int64", arrays[name], [rows.length, length]);
    }
    return feeds;
  }

  // The tokenizer's words of a raw text (its pre-tokenizer on the original text, each CJK character a word as
  // BERT's normalizer makes it) with their spans, and each word's pieces.
  #words(text) {
    const pre = this.tokenizer.pre_tokenizer;
    const found = pre ? pre(text) : text.split(/\s+/).filter(Boolean);
    const words = [];
    let cursor = 0;
    for (const w of found.flatMap(splitCjk)) {
      const start = text.indexOf(w, cursor);
      if (start < 0) continue;
      cursor = start + w.length;
      const pieces = this.#pieces(w);
      if (pieces.length) words.push({ start, end: cursor, pieces });
    }
    return words;
  }

  // Per word of each text: its tag, score and probabilities, from the window where it sits furthest from an edge
  // (windows of max_length tokens sharing `stride` tokens, as the Python runtime cuts long texts).
  async #tagWords(texts, batchSize) {
    const size = this.maxLength - this.prefix.length - this.suffix.length;
    const stride = this.manifest.task.stride ?? Math.floor(this.maxLength / 4);
    const step = size - stride;
    const windows = [];
    texts.forEach((words, t) => {
      const ids = [];
      const wordOf = [];
      words.forEach((w, k) => w.pieces.forEach((id) => (ids.push(id), wordOf.push(k))));
      for (let start = 0; ; start += step) {
        const stop = Math.min(start + size, ids.length);
        const none = (n) => new Array(n).fill(null);
        windows.push({
          text: t,
          ids: [...this.prefix, ...ids.slice(start, stop), ...this.suffix],
          wordOf: [...none(this.prefix.length), ...wordOf.slice(start, stop), ...none(this.suffix.length)],
        });
        if (stop >= ids.length) break;
      }
    });
    const best = texts.map(() => new Map());
    const aggregation = this.manifest.task.aggregation ?? "first";
    for (let i = 0; i < windows.length; i += batchSize) {
      const chunk = windows.slice(i, i + batchSize);
      const { logits } = await this.session.run(this.#feeds(chunk.map((w) => ({ ids: w.ids, types: [] }))));
      const [, length, k] = logits.dims;
      chunk.forEach((w, b) => {
        const n = w.ids.length;
        const probs = softmaxRows(logits.data.subarray(b * length * k, (b * length + n) * k), k);
        collect(best[w.text], w.wordOf, probs, aggregation);
      });
    }
    return texts.map((words, t) =>
      words.map((_, k) => {
        const p = best[t].get(k)?.probs;
        if (!p) return null;
        const top = argmax(p);
        return { tag: this.labels[top], score: p[top] };
      }),
    );
  }
}

function collect(best, wordOf, probs, aggregation) {
  const n = wordOf.length;
  const positions = new Map();
  wordOf.forEach((w, p) => w !== null && (positions.get(w) ?? positions.set(w, []).get(w)).push(p));
  for (const [word, at] of positions) {
    const margin = Math.min(at[0], n - 1 - at[at.length - 1]);
    if (best.has(word) && best.get(word).margin >= margin) continue;
    let p;
    if (aggregation === "average") {
      p = probs[0].map((_, j) => at.reduce((s, q) => s + probs[q][j], 0) / at.length);
    } else if (aggregation === "max") {
      p = probs[at.reduce((a, q) => (Math.max(...probs[q]) > Math.max(...probs[a]) ? q : a), at[0])];
    } else {
      p = probs[at[0]];
    }
    best.set(word, { margin, probs: p });
  }
}

// Runs of words of one type: a new entity at every B- or change of type, O ends one; score = mean word score.
function groupEntities(text, words, tagged) {
  const groups = [];
  tagged.forEach((w, k) => {
    if (!w || w.tag === "O") return groups.push({ name: "O", members: [k] });
    const dash = w.tag.indexOf("-");
    const kind = dash < 0 ? w.tag : w.tag.slice(0, dash);
    const name = dash < 0 ? "" : w.tag.slice(dash + 1);
    const last = groups[groups.length - 1];
    if (last && last.name === name && kind !== "B") last.members.push(k);
    else groups.push({ name, members: [k] });
  });
  const points = (i) => Array.from(text.slice(0, i)).length; // UTF-16 index -> code points
  return groups
    .filter((g) => g.name !== "O")
    .map(({ name, members }) => {
      const start = words[members[0]].start;
      const end = words[members[members.length - 1]].end;
      const score = members.reduce((s, k) => s + tagged[k].score, 0) / members.length;
      return { label: name, start: points(start), end: points(end), text: text.slice(start, end), score };
    });
}

// BERT's normalizer puts spaces around CJK ideographs, so each is a word of its own.
const CJK = /([\u4E00-\u9FFF\u3400-\u4DBF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B81F}\uF900-\uFAFF\u{2F800}-\u{2FA1F}])/u;
function splitCjk(word) {
  return CJK.test(word) ? word.split(CJK).filter(Boolean) : [word];
}

function softmaxRows(data, k) {
  const rows = [];
  for (let i = 0; i < data.length; i += k) {
    const row = Array.from(data.subarray(i, i + k));
    const top = Math.max(...row);
    const e = row.map((x) => Math.exp(x - top));
    const sum = e.reduce((a, b) => a + b, 0);
    rows.push(e.map((x) => x / sum));
  }
  return rows;
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
