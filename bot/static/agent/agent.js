// The agent inbox: polls the gateway's /agent/api for open tickets and the chosen one's transcript.
// Everything the shopper wrote is shown with textContent, never as HTML.

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const state = { name: "", token: "", selected: null, timer: null };

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

async function api(path, options = {}) {
  const response = await fetch(`/agent/api${path}`, {
    ...options,
    headers: {
      Authorization: `Bearer ${state.token}`,
      "X-Agent": state.name,
      "Content-Type": "application/json",
      ...(options.headers || {}),
    },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(typeof body.detail === "string" ? body.detail : `The inbox answered ${response.status}.`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function item(ticket) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = `ticket ${ticket.status}${ticket.id === state.selected ? " selected" : ""}`;
  button.dataset.ticket = ticket.id;
  const who = ticket.status === "taken" ? `with ${ticket.agent}` : "waiting";
  button.textContent = `#${ticket.id} · ${who} · ${ticket.reason || "asked for a person"}`;
  const last = document.createElement("span");
  last.className = "last";
  last.textContent = ticket.last_message;
  button.appendChild(last);
  button.addEventListener("click", () => select(ticket.id));
  li.appendChild(button);
  return li;
}

function summaryRows(ticket) {
  const rows = [
    ["Status", ticket.status === "taken" ? `taken by ${ticket.agent}` : ticket.status],
    ["Opened", ticket.created_at],
    ["Why", ticket.reason || "-"],
    ["Verified customer", ticket.customer_id || "not verified"],
    ["Order", ticket.order_id || "-"],
    ["Last search", ticket.last_search || "-"],
    ["Cart", ticket.cart.length ? ticket.cart.map((l) => `${l.quantity ?? 1} × ${l.name ?? l.product_id}`).join(", ") : "empty"],
  ];
  const dl = $("summary");
  dl.replaceChildren();
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

function showTranscript(lines) {
  const list = $("transcript");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  list.replaceChildren(
    ...lines.map((line) => {
      const li = document.createElement("li");
      li.className = `line ${line.from}`;
      const who = document.createElement("strong");
      who.textContent = line.from !== "agent" ? line.from : line.agent === state.name ? `${line.agent} (you)` : line.agent;
      const text = document.createElement("span");
      text.textContent = line.text;
      li.append(who, ": ", text);
      return li;
    }),
  );
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function refreshTicket() {
  if (state.selected === null) return;
  const ticket = await api(`/tickets/${state.selected}`);
  $("ticket").hidden = false;
  $("ticket-title").textContent = `Ticket #${ticket.id}`;
  summaryRows(ticket);
  const mine = ticket.status === "taken" && ticket.agent === state.name;
  $("take").hidden = ticket.status !== "waiting";
  $("release").hidden = !mine;
  $("reply").hidden = !mine;
  showTranscript(ticket.transcript);
}

async function refresh() {
  try {
    const inbox = await api("/tickets");
    const others = inbox.agents_online.filter((n) => n !== state.name);
    $("online").textContent = others.length ? `Also online: ${others.join(", ")}` : "You are the only agent online.";
    $("tickets").replaceChildren(...inbox.tickets.map(item));
    $("empty").hidden = inbox.tickets.length > 0;
    if (state.selected !== null && !inbox.tickets.some((t) => t.id === state.selected)) {
      state.selected = null; // handed back or closed
      $("ticket").hidden = true;
    }
    await refreshTicket();
    showError("");
  } catch (error) {
    showError(error.message);
    if (error.status === 401 || error.status === 503) signOut();
  }
}

function select(id) {
  state.selected = id;
  refresh();
}

async function act(path, options) {
  try {
    await api(path, options);
    await refresh();
  } catch (error) {
    showError(error.message);
  }
}

function start() {
  $("login").hidden = true;
  $("inbox").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = `Signed in as ${state.name}`;
  refresh();
  state.timer = setInterval(refresh, POLL_MS);
}

function signOut() {
  clearInterval(state.timer);
  sessionStorage.removeItem("shopkeeper-agent");
  Object.assign(state, { token: "", selected: null, timer: null });
  $("login").hidden = false;
  $("inbox").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.name = $("name").value.trim();
  state.token = $("token").value.trim();
  sessionStorage.setItem("shopkeeper-agent", JSON.stringify({ name: state.name, token: state.token }));
  start();
});
$("sign-out").addEventListener("click", signOut);
$("take").addEventListener("click", () => act(`/tickets/${state.selected}/take`, { method: "POST" }));
$("release").addEventListener("click", () => act(`/tickets/${state.selected}/release`, { method: "POST" }));
$("reply").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("message").value.trim();
  if (!text) return;
  await act(`/tickets/${state.selected}/messages`, { method: "POST", body: JSON.stringify({ text }) });
  if ($("error").hidden) $("message").value = "";
});

const saved = JSON.parse(sessionStorage.getItem("shopkeeper-agent") || "null");
if (saved) {
  Object.assign(state, saved);
  start();
}
