// The admin console's Webhooks view: endpoints, their recent deliveries, redelivery and test
// events (docs/webhooks.md). Loaded before admin.js, which merges WEBHOOK_TEXT into its texts
// and calls these functions; they use admin.js's helpers (gql, t, element, day, report) when run.
"use strict";

const WEBHOOK_TEXT = {
  en: {
    tab_webhooks: "Webhooks", webhooks_title: "Webhook endpoints",
    webhooks_help: "URLs of your other systems that receive this workspace's events, signed (Standard Webhooks) and retried for about 32 hours.",
    add_endpoint: "Add endpoint", hook_description: "Description (optional)",
    secret_shown_once: "The endpoint's signing secret, shown this once: copy it into the receiver now.",
    enabled: "enabled", disabled: "disabled", failing_since: "failing since {when}",
    send_test: "Send a test event", disable: "Disable", enable: "Enable", rotate: "Rotate secret",
    delete: "Delete", confirm_delete_hook: "Delete the endpoint {url} and its deliveries?",
    confirm_rotate: "Make a new secret for {url}? The current one keeps signing for 24 hours.",
    no_deliveries: "No deliveries yet.", event: "Event", attempts: "Attempts", response: "Response",
    detail: "Detail", redeliver: "Redeliver", next_attempt: "next attempt {when}", no_endpoints: "No endpoints yet.",
    status_PENDING: "pending", status_DELIVERED: "delivered", status_FAILED: "failed",
    test_queued: "A test event is on its way.", pick_event: "Pick at least one event.",
  },
  "pt-BR": {
    tab_webhooks: "Webhooks", webhooks_title: "Endpoints de webhook",
    webhooks_help: "URLs dos seus outros sistemas que recebem os eventos deste workspace, assinados (Standard Webhooks) e reenviados por cerca de 32 horas.",
    add_endpoint: "Adicionar endpoint", hook_description: "Descrição (opcional)",
    secret_shown_once: "O segredo de assinatura do endpoint, mostrado só desta vez: copie-o para o receptor agora.",
    enabled: "ativo", disabled: "desativado", failing_since: "falhando desde {when}",
    send_test: "Enviar um evento de teste", disable: "Desativar", enable: "Ativar", rotate: "Trocar o segredo",
    delete: "Excluir", confirm_delete_hook: "Excluir o endpoint {url} e suas entregas?",
    confirm_rotate: "Criar um novo segredo para {url}? O atual continua assinando por 24 horas.",
    no_deliveries: "Nenhuma entrega ainda.", event: "Evento", attempts: "Tentativas", response: "Resposta",
    detail: "Detalhe", redeliver: "Reenviar", next_attempt: "próxima tentativa {when}",
    no_endpoints: "Nenhum endpoint ainda.",
    status_PENDING: "pendente", status_DELIVERED: "entregue", status_FAILED: "falhou",
    test_queued: "Um evento de teste está a caminho.", pick_event: "Escolha ao menos um evento.",
  },
};

const HOOKS_QUERY = `{ viewer { workspace { webhookEndpoints {
  id url description events enabled disabledReason failingSince
  deliveries(first: 20) { id eventType status attempts responseStatus lastError nextAttemptAt createdAt }
} } } }`;

function moment(iso) {
  return new Intl.DateTimeFormat(state.locale, { dateStyle: "short", timeStyle: "medium" }).format(new Date(iso));
}

async function loadWebhooks() {
  const data = await gql(HOOKS_QUERY);
  const list = $("#hooks");
  list.replaceChildren();
  const endpoints = data.viewer.workspace.webhookEndpoints;
  if (!endpoints.length) list.append(element("p", t("no_endpoints"), "help"));
  for (const e of endpoints) list.append(endpointCard(e));
}

function endpointCard(e) {
  const card = element("div", null, "model endpoint");
  card.dataset.endpoint = e.id;
  const title = element("h3", e.url);
  const status = e.enabled ? t("enabled") : `${t("disabled")}: ${e.disabledReason || ""}`;
  title.append(element("span", status, e.enabled ? "badge" : "badge off"));
  card.append(title);
  if (e.description) card.append(element("p", e.description, "help"));
  card.append(element("p", e.events.join(", "), "help"));
  if (e.failingSince) card.append(element("p", t("failing_since", { when: moment(e.failingSince) }), "error"));
  const actions = element("div", null, "actions");
  const act = (label, run) => {
    const button = element("button", t(label));
    button.dataset.action = label;
    button.addEventListener("click", () => run().catch(report));
    actions.append(button);
  };
  act("send_test", () => hookAction("sendTestWebhook", "WebhookEndpointIdInput!", { id: e.id }, t("test_queued")));
  act(e.enabled ? "disable" : "enable", () =>
    hookAction("updateWebhookEndpoint", "UpdateWebhookEndpointInput!", { id: e.id, enabled: !e.enabled }));
  act("rotate", () => rotateSecret(e));
  act("delete", async () => {
    if (confirm(t("confirm_delete_hook", { url: e.url }))) {
      await hookAction("deleteWebhookEndpoint", "WebhookEndpointIdInput!", { id: e.id });
    }
  });
  card.append(actions, deliveriesTable(e.deliveries));
  return card;
}

function deliveriesTable(deliveries) {
  if (!deliveries.length) return element("p", t("no_deliveries"), "help");
  const table = element("table", null, "deliveries");
  const head = element("tr");
  for (const name of ["when", "event", "status", "attempts", "response", "detail", null]) {
    head.append(element("th", name ? t(name) : ""));
  }
  table.append(element("thead"), element("tbody"));
  table.tHead.append(head);
  for (const d of deliveries) {
    const row = element("tr", null, `delivery status-${d.status}`);
    row.dataset.delivery = d.id;
    const next = d.status === "PENDING" && d.nextAttemptAt ? t("next_attempt", { when: moment(d.nextAttemptAt) }) : "";
    const detail = [d.lastError, next].filter(Boolean).join(" — ");
    for (const text of [moment(d.createdAt), d.eventType, t(`status_${d.status}`), String(d.attempts),
      d.responseStatus == null ? "—" : String(d.responseStatus), detail]) {
      row.append(element("td", text));
    }
    const cell = element("td");
    const again = element("button", t("redeliver"));
    again.addEventListener("click", () =>
      hookAction("redeliverWebhook", "RedeliverWebhookInput!", { id: d.id }).catch(report));
    cell.append(again);
    row.append(cell);
    table.tBodies[0].append(row);
  }
  return table;
}

async function hookAction(field, type, input, done = "") {
  $("#hook-error").textContent = "";
  const data = await gql(`mutation($input: ${type}) { ${field}(input: $input) { userErrors { message } } }`, { input });
  const errors = data[field].userErrors;
  $("#hook-error").textContent = errors.map((x) => x.message).join(" ");
  $("#hook-done").textContent = errors.length ? "" : done;
  await loadWebhooks();
}

async function rotateSecret(e) {
  if (!confirm(t("confirm_rotate", { url: e.url }))) return;
  const data = await gql(
    `mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) {
      secret userErrors { message } } }`,
    { input: { id: e.id, overlapHours: 24 } },
  );
  showSecret(data.rotateWebhookSecret);
  await loadWebhooks();
}

function showSecret(payload) {
  $("#hook-error").textContent = payload.userErrors.map((x) => x.message).join(" ");
  $("#new-hook").hidden = !payload.secret;
  $("#new-hook-secret").textContent = payload.secret || "";
}

async function createEndpoint(event) {
  event.preventDefault();
  const events = [...document.querySelectorAll('input[name="hook-event"]:checked')].map((box) => box.value);
  if (!events.length) {
    $("#hook-error").textContent = t("pick_event");
    return;
  }
  const data = await gql(
    `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
      secret userErrors { field code message } } }`,
    { input: { url: $("#hook-url").value.trim(), events, description: $("#hook-description").value || null } },
  );
  showSecret(data.createWebhookEndpoint);
  if (data.createWebhookEndpoint.secret) {
    $("#hook-url").value = "";
    $("#hook-description").value = "";
  }
  await loadWebhooks();
}

function wireWebhooks() {
  $("#hook-form").addEventListener("submit", (e) => createEndpoint(e).catch(report));
}
