// Language model: the OpenAI-compatible chat-completions endpoint the assistant uses, and the
// embeddings provider that search by meaning uses (a switch re-embeds in the background; its
// progress is shown and refreshed until it is done). System administrators only.
import { api, problemText } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { submitForm } from "../lib/forms.js";
import { field, panel, refused } from "../lib/page.js";
import { toast } from "../components/toast.js";

const refreshEvery = 2000;

/** "openai-compatible/text-embedding-3-small (1536 dimensions)". */
function identity(value) {
  return `${value.provider}/${value.model} (${value.dimension} dimensions)`;
}

export async function render(view) {
  const [first, embeddings] = await Promise.all([api("GET", "/api/assistant/settings"), api("GET", "/api/search/embeddings")]);
  if (!first.ok) return refused(view, first);

  let timer = null;
  let left = false;

  // ---- The chat model ----
  const enabled = h("input", { type: "checkbox", id: "assistant-enabled", name: "enabled" });
  const url = h("input", { id: "assistant-url", name: "baseURL", type: "url", required: true, placeholder: "https://api.openai.com/v1", spellcheck: "false" });
  const model = h("input", { id: "assistant-model", name: "model", required: true, placeholder: "gpt-4o-mini", autocomplete: "off", spellcheck: "false" });
  const key = h("input", { id: "assistant-key", name: "apiKey", type: "password", autocomplete: "new-password" });
  const steps = h("input", { id: "assistant-steps", name: "maxSteps", type: "number", min: 1, max: 20, required: true });
  const timeout = h("input", { id: "assistant-timeout", name: "timeoutSeconds", type: "number", min: 1, max: 600, required: true });
  const tools = h("input", { id: "assistant-tools", name: "maxTools", type: "number", min: 1, max: 128, required: true });
  const saved = h("p", { class: "muted", id: "assistant-saved", role: "status" });

  function fill(settings) {
    enabled.checked = settings.enabled;
    url.value = settings.baseURL || "";
    model.value = settings.model || "";
    key.value = "";
    key.placeholder = settings.hasAPIKey ? "stored (leave empty to keep)" : "none";
    steps.value = settings.maxSteps;
    timeout.value = settings.timeoutSeconds;
    tools.value = settings.maxTools;
  }

  const form = h("form", { id: "assistant-form", class: "stacked" },
    field("Enabled", enabled, { hint: "When off, the assistant suggests tools and runs /tool-name {json} commands without a model." }),
    field("Base URL", url, { hint: "The API root, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 for Ollama.", errorFor: "baseURL" }),
    field("Model", model, { errorFor: "model" }),
    field("API key", key, { hint: "Stored sealed and never shown again. Leave empty to keep the stored one.", errorFor: "apiKey" }),
    h("div", { class: "field-row" },
      field("Steps per message", steps, { hint: "Model calls for one message, 1–20.", errorFor: "maxSteps" }),
      field("Timeout (seconds)", timeout, { hint: "Of silence from the model, 1–600.", errorFor: "timeoutSeconds" }),
      field("Tools offered at most", tools, { hint: "To the model per message, 1–128.", errorFor: "maxTools" })),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "assistant-submit" }, "Save")),
    saved,
    h("p", { class: "error", id: "assistant-error", role: "alert" }));

  submitForm(form, () => {
    saved.textContent = "";
    const body = {
      enabled: enabled.checked, baseURL: url.value.trim(), model: model.value.trim(),
      maxSteps: Number(steps.value), timeoutSeconds: Number(timeout.value), maxTools: Number(tools.value),
    };
    if (key.value !== "") body.apiKey = key.value;
    return api("PUT", "/api/assistant/settings", body);
  }, async () => {
    key.value = "";
    const again = await api("GET", "/api/assistant/settings");
    if (again.ok) fill(again.body);
    saved.textContent = "Saved.";
    toast(enabled.checked ? `The assistant now answers with ${model.value}.` : "Saved: the assistant works without a model.", { kind: "ok" });
  });

  // ---- Search embeddings ----
  const status = h("p", { id: "embeddings-status", role: "status" });
  const progress = h("progress", { id: "embeddings-progress", "aria-label": "Embedding progress", hidden: true });
  // The built-in choices are a provider and a model: "builtin:<model>".
  const provider = h("select", { id: "embeddings-provider", name: "provider" },
    h("option", { value: "builtin:all-MiniLM-L6-v2" }, "Built-in sentence model, all-MiniLM-L6-v2 (no network)"),
    h("option", { value: "builtin:hashing-v1" }, "Built-in word hashing (no network)"),
    h("option", { value: "openai-compatible" }, "OpenAI-compatible /v1/embeddings"));
  const builtinDimensions = { "all-MiniLM-L6-v2": 384 };
  const embeddingsURL = h("input", { id: "embeddings-url", name: "baseURL", type: "url", placeholder: "https://api.openai.com/v1", spellcheck: "false" });
  const embeddingsModel = h("input", { id: "embeddings-model", name: "model", placeholder: "text-embedding-3-small", autocomplete: "off", spellcheck: "false" });
  const dimension = h("input", { id: "embeddings-dimension", name: "dimension", type: "number", min: 8, max: 4096, value: 1536, required: true });
  const embeddingsKey = h("input", { id: "embeddings-key", name: "apiKey", type: "password", autocomplete: "new-password" });
  const submit = h("button", { type: "submit", id: "embeddings-submit" }, "Switch provider");

  /** The built-in models need no address, model or key: those fields are off for them; the
   *  sentence model's dimension is its own. */
  function providerChanged() {
    const remote = provider.value === "openai-compatible";
    for (const input of [embeddingsURL, embeddingsModel, embeddingsKey]) input.disabled = !remote;
    embeddingsURL.required = remote;
    embeddingsModel.required = remote;
    const fixed = builtinDimensions[provider.value.split(":")[1]];
    dimension.disabled = Boolean(fixed);
    if (fixed) dimension.value = fixed;
  }
  provider.addEventListener("change", providerChanged);

  /** Shows the provider in use and, during a switch, its progress; refreshed until done. */
  function showStatus(value) {
    let text = `In use: ${identity(value.active)}.`;
    if (value.next) {
      text += ` Switching to ${identity(value.next)}: ${value.done} of ${value.total} embedded.`;
      if (value.problem) text += ` Retrying after: ${value.problem}`;
      progress.max = Math.max(value.total, 1);
      progress.value = value.done;
      progress.hidden = false;
    } else {
      progress.hidden = true;
    }
    status.textContent = text;
    // Kept off while a switch runs (submitForm leaves a `keepDisabled` button disabled).
    if (value.next) submit.dataset.keepDisabled = "true";
    else delete submit.dataset.keepDisabled;
    submit.disabled = Boolean(value.next);
    submit.title = value.next ? "A switch is running; wait until it is done." : "";
    clearTimeout(timer);
    timer = value.next && !left ? setTimeout(refreshStatus, refreshEvery) : null;
  }

  async function refreshStatus() {
    timer = null;
    const result = await api("GET", "/api/search/embeddings");
    if (left) return;
    if (result.ok) showStatus(result.body);
    else status.textContent = `The embeddings status could not be read: ${problemText(result)}`;
  }

  const embeddingsForm = h("form", { id: "embeddings-form", class: "stacked" },
    field("Provider", provider, { errorFor: "provider" }),
    field("Base URL", embeddingsURL, { hint: "The API root of an OpenAI-compatible server.", errorFor: "baseURL" }),
    field("Model", embeddingsModel, { errorFor: "model" }),
    field("Dimension", dimension, { hint: "The length of the model's vectors, 8–4096.", errorFor: "dimension" }),
    field("API key", embeddingsKey, { hint: "Stored sealed and never shown again.", errorFor: "apiKey" }),
    h("div", { class: "form-actions" }, submit),
    h("p", { class: "error", id: "embeddings-error", role: "alert" }));

  submitForm(embeddingsForm, () => {
    const [kind, builtinModel] = provider.value.split(":");
    const body = { provider: kind, dimension: Number(dimension.value) };
    if (builtinModel) body.model = builtinModel;
    if (kind !== "builtin") {
      body.baseURL = embeddingsURL.value.trim();
      body.model = embeddingsModel.value.trim() || undefined;
      if (embeddingsKey.value !== "") body.apiKey = embeddingsKey.value;
    }
    return api("PUT", "/api/search/embeddings", body);
  }, (value) => {
    embeddingsKey.value = "";
    toast("Switching: everything is embedded again in the background. Search goes on with the current provider until then.", { kind: "info" });
    showStatus(value);
  });

  fill(first.body);
  if (embeddings.ok) {
    const active = embeddings.body.active;
    provider.value = active.provider === "builtin" ? `builtin:${active.model}` : "openai-compatible";
    dimension.value = active.dimension;
    if (active.provider !== "builtin") embeddingsModel.value = active.model;
    showStatus(embeddings.body);
  } else {
    status.textContent = `The embeddings status could not be read: ${problemText(embeddings)}`;
  }
  providerChanged();

  view.replaceChildren(panel("page-assistant", "Language model",
    h("p", { class: "muted" }, "Any OpenAI-compatible chat-completions endpoint (a hosted provider, OCI Generative AI, Ollama, vLLM, llama.cpp's server). Without one, the assistant suggests tools and runs ",
      h("code", {}, "/tool-name {json}"), " commands. The API key is stored sealed and never shown again."),
    form,
    h("h2", {}, "Search embeddings"),
    h("p", { class: "muted" }, "Conversations and tools are found by meaning with these vectors. Changing the provider embeds everything again in the background; search goes on with the current provider until the new one is complete."),
    status, progress,
    embeddingsForm));

  return () => {
    left = true;
    clearTimeout(timer);
    timer = null;
  };
}
