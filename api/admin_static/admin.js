// Jornada's admin console: plain JavaScript over the public GraphQL API (POST /graphql with the
// ADMIN key the admin typed in). No third-party code; the key stays in this tab's sessionStorage.
"use strict";

const TEXT = {
  en: {
    console: "admin console", language: "Language", logout: "Log out",
    login_title: "Sign in with an ADMIN API key",
    login_help: "The key `jornada workspace create` or `make run` printed (jor_...). It is kept in this tab only.",
    key_placeholder: "jor_...", login: "Sign in",
    not_admin: "This key is a {role} key: the console needs an ADMIN key.",
    bad_key: "This key is not valid (unknown or revoked).",
    tab_funnel: "Funnel", tab_keys: "API keys",
    funnel_title: "Funnel", period: "Period:", distribution_title: "Where customers are now",
    mode_cumulative: "Cumulative", mode_strict: "Strict", mode_any: "Any",
    help_CUMULATIVE: "A customer counts at every step up to the furthest one it reached in the period.",
    help_STRICT: "A customer counts at a step only if it entered every earlier step, in order, in the period.",
    help_ANY: "A customer counts at every stage it entered in the period.",
    of_previous: "{share} of the previous step", customers: "{n} customers",
    keys_title: "API keys", key_name: "Name", role: "Role", prefix: "Starts with", created: "Created",
    status: "Status", create_key: "Create key", active: "active", revoked: "revoked {when}", revoke: "Revoke",
    confirm_revoke: "Revoke the key “{name}”? Programs using it stop working at once.",
    key_shown_once: "The new key, shown this once: copy it now.",
    tab_models: "Models", tab_live: "Live moves", models_title: "Tracked models", primary: "primary",
    save: "Save", saved: "Saved.", default_is: "default {value}",
    switch_title: "Switch the primary model", preview: "Preview",
    switch_help: "Replays every customer's history through the chosen model. Nothing changes until you apply it.",
    now: "Now", after_switch: "After the switch", sample_title: "Some customers, where they are and would be",
    customer: "Customer", apply_switch: "Apply the switch", switched: "{model} is now the primary model.",
    live_title: "Stage moves, live", live_help: "Moves appear here as they happen.", when: "When", move: "Move",
    model: "Model", show: "Show",
    rule: "Rule", connected: "(connected)", disconnected: "(disconnected: reload the page)",
    yours: "(this session's key)",
    confirm_revoke_yours: "This is the key you are signed in with: revoking it signs you out. Revoke “{name}”?",
  },
  "pt-BR": {
    console: "console de administração", language: "Idioma", logout: "Sair",
    login_title: "Entre com uma chave de API ADMIN",
    login_help: "A chave que `jornada workspace create` ou `make run` mostrou (jor_...). Ela fica só nesta aba.",
    key_placeholder: "jor_...", login: "Entrar",
    not_admin: "Esta chave é {role}: o console precisa de uma chave ADMIN.",
    bad_key: "Esta chave não é válida (desconhecida ou revogada).",
    tab_funnel: "Funil", tab_keys: "Chaves de API",
    funnel_title: "Funil", period: "Período:", distribution_title: "Onde os clientes estão agora",
    mode_cumulative: "Cumulativo", mode_strict: "Estrito", mode_any: "Qualquer",
    help_CUMULATIVE: "Um cliente conta em cada etapa até a mais avançada que alcançou no período.",
    help_STRICT: "Um cliente conta numa etapa só se entrou em todas as anteriores, em ordem, no período.",
    help_ANY: "Um cliente conta em cada etapa em que entrou no período.",
    of_previous: "{share} da etapa anterior", customers: "{n} clientes",
    keys_title: "Chaves de API", key_name: "Nome", role: "Papel", prefix: "Começa com", created: "Criada",
    status: "Situação", create_key: "Criar chave", active: "ativa", revoked: "revogada {when}", revoke: "Revogar",
    confirm_revoke: "Revogar a chave “{name}”? Programas que a usam param de funcionar na hora.",
    key_shown_once: "A nova chave, mostrada só desta vez: copie-a agora.",
    tab_models: "Modelos", tab_live: "Movimentos ao vivo", models_title: "Modelos acompanhados", primary: "principal",
    save: "Salvar", saved: "Salvo.", default_is: "padrão {value}",
    switch_title: "Trocar o modelo principal", preview: "Pré-visualizar",
    switch_help: "Repassa o histórico de cada cliente pelo modelo escolhido. Nada muda até você aplicar.",
    now: "Agora", after_switch: "Depois da troca", sample_title: "Alguns clientes, onde estão e onde estariam",
    customer: "Cliente", apply_switch: "Aplicar a troca", switched: "{model} agora é o modelo principal.",
    live_title: "Movimentos de etapa, ao vivo", live_help: "Os movimentos aparecem aqui quando acontecem.",
    when: "Quando", move: "Movimento", rule: "Regra", connected: "(conectado)", model: "Modelo", show: "Mostrar",
    disconnected: "(desconectado: recarregue a página)",
    yours: "(a chave desta sessão)",
    confirm_revoke_yours: "Esta é a chave com que você entrou: revogá-la encerra a sessão. Revogar “{name}”?",
  },
};

for (const locale of Object.keys(TEXT)) Object.assign(TEXT[locale], WEBHOOK_TEXT[locale]);  // webhooks.js

const state = { key: sessionStorage.getItem("jornada.key"), locale: pickLocale(), mode: "CUMULATIVE" };
const $ = (selector) => document.querySelector(selector);

function pickLocale() {
  const saved = localStorage.getItem("jornada.locale");
  if (saved && TEXT[saved]) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("pt") ? "pt-BR" : "en";
}

function t(name, values = {}) {
  const text = TEXT[state.locale][name] ?? TEXT.en[name] ?? name;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
}

function translate() {
  document.documentElement.lang = state.locale;
  $("#locale").value = state.locale;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-placeholder]")) el.placeholder = t(el.dataset.tPlaceholder);
}

function nextDay(iso) {
  const d = new Date(`${iso}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

function number(n) { return new Intl.NumberFormat(state.locale).format(n); }
function percent(x) { return new Intl.NumberFormat(state.locale, { style: "percent", maximumFractionDigits: 1 }).format(x); }
function day(iso) { return new Intl.DateTimeFormat(state.locale, { dateStyle: "medium" }).format(new Date(iso)); }

class ApiError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${state.key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError(first.message, first.extensions && first.extensions.code);
  }
  return body.data;
}

// --- sign in --------------------------------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  let viewer;
  try {
    viewer = (await gql("{ viewer { role workspace { name } } }")).viewer;
  } catch (error) {
    return fail(error.code === "UNAUTHENTICATED" ? t("bad_key") : error.message);
  }
  if (viewer.role !== "ADMIN") return fail(t("not_admin", { role: viewer.role }));
  sessionStorage.setItem("jornada.key", key);
  $("#workspace").textContent = viewer.workspace.name;
  $("#login").hidden = true;
  $("#console").hidden = false;
  $("#logout").hidden = false;
  show("funnel");
}

function fail(message) {
  state.key = null;
  sessionStorage.removeItem("jornada.key");
  $("#login-error").textContent = message;
}

function signOut() {
  sessionStorage.removeItem("jornada.key");
  location.reload();
}

// --- views ----------------------------------------------------------------------------------------

function show(view) {
  for (const el of document.querySelectorAll(".view")) el.hidden = el.id !== `view-${view}`;
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.view === view);
  state.view = view;
  const load = { funnel: loadFunnel, models: loadModels, live: startLive, keys: loadKeys, webhooks: loadWebhooks }[view];
  return load().catch(report);
}

function bars(container, rows) {
  container.replaceChildren();
  const top = Math.max(1, ...rows.map((r) => r.count));
  for (const row of rows) {
    const name = document.createElement("div");
    name.textContent = row.label;
    name.className = "stage";
    const bar = document.createElement("div");
    bar.className = `bar category-${row.category}`;
    const fill = document.createElement("span");
    fill.style.width = `${(100 * row.count) / top}%`;
    bar.append(fill);
    const num = document.createElement("div");
    num.className = "num";
    num.dataset.stage = row.key;
    num.textContent = number(row.count);
    if (row.note) {
      const note = document.createElement("div");
      note.className = "conv";
      note.textContent = row.note;
      num.append(note);
    }
    container.append(name, bar, num);
  }
}

async function loadFunnel() {
  // A period picked by day: from the first day's midnight to the end of the last day, on the
  // workspace's clock (bounds without an offset are read in its time zone).
  const period = state.period ? { start: `${state.period[0]}T00:00:00`, end: `${nextDay(state.period[1])}T00:00:00` } : null;
  const data = await gql(
    `query($mode: FunnelMode!, $locale: String!, $period: PeriodInput) { metrics(period: $period) {
      model { name }
      period { start end }
      funnel(mode: $mode) { stage { key category label(locale: $locale) } count conversionFromPrevious }
      stageDistribution { stage { key category label(locale: $locale) } count share }
    } }`,
    { mode: state.mode, locale: state.locale, period },
  );
  const m = data.metrics;
  $("#model-name").textContent = `— ${m.model.name}`;
  if (!state.period) {
    $("#period-start").value = m.period.start.slice(0, 10);
    $("#period-end").value = m.period.end.slice(0, 10);
  }
  $("#mode-help").textContent = t(`help_${state.mode}`);
  bars($("#funnel"), m.funnel.map((s) => ({
    key: s.stage.key, label: s.stage.label, category: s.stage.category, count: s.count,
    note: s.conversionFromPrevious == null ? "" : t("of_previous", { share: percent(s.conversionFromPrevious) }),
  })));
  bars($("#distribution"), m.stageDistribution.map((s) => ({
    key: s.stage.key, label: s.stage.label, category: s.stage.category, count: s.count, note: percent(s.share),
  })));
}

async function loadKeys() {
  const data = await gql("{ viewer { workspace { apiKeys { id name role prefix createdAt revokedAt } } } }");
  const body = $("#keys tbody");
  body.replaceChildren();
  for (const k of data.viewer.workspace.apiKeys) {
    const row = document.createElement("tr");
    row.dataset.key = k.id;
    if (k.revokedAt) row.className = "revoked";
    const yours = state.key.startsWith(k.prefix);
    for (const text of [yours ? `${k.name} ${t("yours")}` : k.name, k.role, `${k.prefix}…`, day(k.createdAt),
      k.revokedAt ? t("revoked", { when: day(k.revokedAt) }) : t("active")]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const action = document.createElement("td");
    if (!k.revokedAt) {
      const button = document.createElement("button");
      button.textContent = t("revoke");
      button.className = "revoke";
      button.addEventListener("click", () => revoke(k, yours).catch(report));
      action.append(button);
    }
    row.append(action);
    body.append(row);
  }
}

async function createKey(event) {
  event.preventDefault();
  $("#key-error").textContent = "";
  const data = await gql(
    `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
      key apiKey { id } userErrors { field code message } } }`,
    { input: { name: $("#key-name").value, role: $("#key-role").value } },
  );
  const payload = data.createApiKey;
  if (payload.userErrors.length) {
    $("#key-error").textContent = payload.userErrors.map((e) => e.message).join(" ");
    return;
  }
  $("#new-key-secret").textContent = payload.key;
  $("#new-key").hidden = false;
  $("#key-name").value = "";
  await loadKeys();
}

async function revoke(k, yours) {
  if (!confirm(t(yours ? "confirm_revoke_yours" : "confirm_revoke", { name: k.name }))) return;
  $("#new-key").hidden = true;  // a secret shown earlier may be the one revoked
  const data = await gql(
    `mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { userErrors { message } } }`,
    { input: { id: k.id } },
  );
  const errors = data.revokeApiKey.userErrors;
  $("#key-error").textContent = errors.map((e) => e.message).join(" ");
  if (yours && !errors.length) return signOut();
  await loadKeys();
}

// --- models: parameters and the switch -----------------------------------------------------------

async function loadModels() {
  const data = await gql(
    `query($locale: String!) {
      viewer { workspace { models { isPrimary tracked params
        model { key name params { name type default description minimum maximum } } } } }
      lifecycleModels { key name }
      metrics { stageDistribution { stage { key category label(locale: $locale) } count } }
    }`,
    { locale: state.locale },
  );
  const list = $("#models");
  list.replaceChildren();
  const models = data.viewer.workspace.models.filter((m) => m.tracked);
  for (const wm of models) list.append(modelCard(wm));
  const primary = models.find((m) => m.isPrimary);
  state.before = data.metrics.stageDistribution;
  const select = $("#switch-model");
  select.replaceChildren();
  for (const m of data.lifecycleModels) {
    if (primary && m.key === primary.model.key) continue;
    const option = document.createElement("option");
    option.value = m.key;
    option.textContent = m.name;
    select.append(option);
  }
}

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text != null) el.textContent = text;
  if (className) el.className = className;
  return el;
}

function modelCard(wm) {
  const card = element("form", null, "model");
  card.dataset.model = wm.model.key;
  const title = element("h3", wm.model.name);
  if (wm.isPrimary) title.append(element("span", t("primary"), "badge"));
  card.append(title);
  const inputs = {};
  for (const p of wm.model.params) {
    const row = element("div", null, "param");
    row.dataset.param = p.name;
    row.append(element("label", p.name));
    const structured = p.type === "str_list" || p.type === "int_map";
    const input = document.createElement(structured ? "textarea" : "input");
    input.name = p.name;
    const value = wm.params[p.name];
    input.value = structured ? JSON.stringify(value) : String(value);
    inputs[p.name] = { input, type: p.type };
    row.append(input);
    const range = p.minimum != null || p.maximum != null ? ` [${p.minimum ?? "…"}, ${p.maximum ?? "…"}]` : "";
    row.append(element("div", `${p.description} (${t("default_is", { value: JSON.stringify(p.default) })})${range}`, "why"));
    row.append(element("p", "", "error"));
    card.append(row);
  }
  const done = element("p", "", "ok");
  const save = element("button", t("save"));
  save.type = "submit";
  card.append(save, done);
  card.addEventListener("submit", (event) => {
    event.preventDefault();
    saveParams(wm, inputs, card, done).catch(report);
  });
  return card;
}

function parse(raw, type) {
  if (type === "int" || type === "float") return raw.trim() === "" ? null : Number(raw);
  if (type === "bool") return raw.trim().toLowerCase() === "true";
  if (type === "str_list" || type === "int_map") { try { return JSON.parse(raw); } catch { return raw; } }
  return raw;  // str, decimal: the server checks them
}

async function saveParams(wm, inputs, card, done) {
  for (const el of card.querySelectorAll(".param .error")) el.textContent = "";
  done.textContent = "";
  const params = {};
  for (const [name, { input, type }] of Object.entries(inputs)) params[name] = parse(input.value, type);
  const data = await gql(
    `mutation($input: ConfigureLifecycleModelInput!) { configureLifecycleModel(input: $input) {
      workspaceModel { params } userErrors { field code message } } }`,
    { input: { model: wm.model.key, params } },
  );
  const errors = data.configureLifecycleModel.userErrors;
  for (const e of errors) {
    const name = (e.field || [])[e.field.length - 1];
    const row = card.querySelector(`.param[data-param="${CSS.escape(name || "")}"] .error`);
    (row || done).textContent = e.message;
  }
  if (!errors.length) done.textContent = t("saved");
}

function counts(rows) {
  return rows.map((s) => ({ key: s.stage.key, label: s.stage.label, category: s.stage.category, count: s.count }));
}

const SWITCH = `mutation($input: SwitchLifecycleModelInput!, $locale: String!) { switchLifecycleModel(input: $input) {
  distribution { stage { key category label(locale: $locale) } count }
  sample { customer { name externalId } before { label(locale: $locale) } after { label(locale: $locale) } }
  workspace { primaryModel { name } }
  userErrors { field code message } } }`;

async function previewSwitch(event) {
  event.preventDefault();
  $("#switch-error").textContent = "";
  $("#switch-done").textContent = "";
  const model = $("#switch-model").value;
  const data = await gql(SWITCH, { input: { model, strategy: "REPLAY", dryRun: true }, locale: state.locale });
  const payload = data.switchLifecycleModel;
  if (payload.userErrors.length) {
    $("#switch-error").textContent = payload.userErrors.map((e) => e.message).join(" ");
    return;
  }
  bars($("#before"), counts(state.before));
  bars($("#after"), counts(payload.distribution));
  const body = $("#sample tbody");
  body.replaceChildren();
  for (const s of payload.sample) {
    const row = element("tr");
    row.append(element("td", s.customer ? s.customer.name || s.customer.externalId || "—" : "—"),
      element("td", s.before ? s.before.label : "—"), element("td", s.after.label));
    body.append(row);
  }
  state.switchTo = model;
  $("#preview").hidden = false;
}

async function applySwitch() {
  const data = await gql(SWITCH, { input: { model: state.switchTo, strategy: "REPLAY" }, locale: state.locale });
  const payload = data.switchLifecycleModel;
  if (payload.userErrors.length) {
    $("#switch-error").textContent = payload.userErrors.map((e) => e.message).join(" ");
    return;
  }
  $("#preview").hidden = true;
  await loadModels();
  $("#switch-done").textContent = t("switched", { model: payload.workspace.primaryModel.name });
}

// --- live moves (the stageChanged subscription, graphql-transport-ws) -----------------------------

function startLive() {
  if (state.socket) return Promise.resolve();
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const socket = new WebSocket(url, "graphql-transport-ws");
  state.socket = socket;
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${state.key}` } }));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      $("#live-status").textContent = t("connected");
      socket.send(JSON.stringify({ id: "moves", type: "subscribe", payload: { query: `subscription {
        stageChanged { occurredAt rule cause correction customer { name externalId } model { name }
          from { label(locale: "${state.locale}") } to { label(locale: "${state.locale}") } } }` } }));
    } else if (message.type === "next" && message.payload.data) {
      const m = message.payload.data.stageChanged;
      const row = element("tr");
      row.append(element("td", new Date(m.occurredAt).toLocaleString(state.locale)),
        element("td", m.customer.name || m.customer.externalId || "—"), element("td", m.model ? m.model.name : "—"),
        element("td", `${m.from ? m.from.label : "—"} → ${m.to.label}`), element("td", m.rule || m.cause));
      $("#live tbody").prepend(row);
      while ($("#live tbody").children.length > 50) $("#live tbody").lastChild.remove();
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    }
  });
  socket.addEventListener("close", () => {
    $("#live-status").textContent = t("disconnected");
    state.socket = null;
  });
  return Promise.resolve();
}

// --- wiring ---------------------------------------------------------------------------------------

function report(error) {
  const visible = document.querySelector(".view:not([hidden]) .error");
  (visible || $("#key-error")).textContent = error.message;
}

$("#login-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("#key").value.trim()); });
$("#logout").addEventListener("click", signOut);
$("#key-form").addEventListener("submit", (e) => createKey(e).catch(report));
$("#switch-form").addEventListener("submit", (e) => previewSwitch(e).catch(report));
$("#period-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.period = [$("#period-start").value, $("#period-end").value];
  $("#funnel-error").textContent = "";
  loadFunnel().catch(report);
});
wireWebhooks();
$("#apply-switch").addEventListener("click", () => applySwitch().catch(report));
$("#locale").addEventListener("change", (e) => {
  state.locale = e.target.value;
  localStorage.setItem("jornada.locale", state.locale);
  translate();
  if (state.key && state.view) show(state.view);
});
for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.view));
for (const r of document.querySelectorAll('input[name="mode"]')) {
  r.addEventListener("change", () => { state.mode = r.value; loadFunnel(); });
}
translate();
if (state.key) signIn(state.key);
