// bflc dashboard: polls the JSON API every 2 s and redraws. Everything read
// from the chain is untrusted text: the DOM is built with textContent only.
"use strict";

const POLL_MS = 2000;
const NODE_PATH = /^\/node\/(0x[0-9a-fA-F]{40})\/?$/;
const ORIGIN_COLORS = { genesis: "#6b7280", aggregated: "#2563eb", "carried-over": "#d97706", failback: "#7c3aed" };
const view = { round: null, current: null };

// ------------------------------------------------------------ DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fill(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

function empty(text) {
  return h("p", { class: "empty" }, text);
}

function table(headers, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", {}, t)))), h("tbody", {}, rows));
}

// ------------------------------------------------------------ formatting

function short(hex) {
  return hex ? `${hex.slice(0, 10)}…` : "—";
}

function hash(hex) {
  return hex ? h("code", { class: "hash", title: hex }, short(hex)) : h("span", { class: "muted" }, "—");
}

function addr(address) {
  const label = `${address.slice(0, 6)}…${address.slice(-4)}`;
  return h("a", { class: "addr", href: `/node/${address}`, title: address }, label);
}

function score(value) {
  return value === null || value === undefined ? "—" : value.toFixed(4);
}

function percent(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(2)}%`;
}

function wei(text) {
  const value = BigInt(text);
  if (value === 0n) return "0";
  if (value < 10n ** 12n) return `${value} wei`;
  const whole = value / 10n ** 18n;
  const frac = (value % 10n ** 18n).toString().padStart(18, "0").slice(0, 6).replace(/0+$/, "");
  return `${whole}${frac ? "." + frac : ""} ETH`;
}

function badge(kind, text, title) {
  return h("span", { class: `badge ${kind}`, title }, text || kind);
}

function blocksLeft(deadline) {
  return deadline.passed ? "passed" : `in ${deadline.blocks_left} block${deadline.blocks_left === 1 ? "" : "s"}`;
}

function card(label, value, note, attrs) {
  return h("div", { class: "card", ...(attrs || {}) }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), note ? h("div", { class: "note" }, note) : null);
}

// ------------------------------------------------------------ API

class ApiError extends Error {
  // body: the API's error answer, {error: "one line", code, endpoint?}.
  constructor(status, body) {
    super(body ? body.error : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path) {
  let response;
  try {
    response = await fetch(path, { cache: "no-store" });
  } catch (exc) {
    throw new ApiError(0, { code: "dashboard_unreachable", error: "the dashboard server does not answer (is `bflc dashboard` still running?)" });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function showBanner(exc) {
  const banner = document.getElementById("banner");
  const body = exc.body || { code: "error", error: String(exc.message || exc) };
  const titles = {
    chain_unreachable: "Chain unreachable",
    contract_not_found: "Contract not found",
    chain_error: "Chain error",
    not_found: "Not found",
    bad_request: "Bad request",
    dashboard_unreachable: "Dashboard offline",
  };
  const endpoint = body.endpoint;
  const final = body.code === "not_found" || body.code === "bad_request";
  banner.replaceChildren(
    h("strong", {}, titles[body.code] || "Error"),
    " ",
    body.error,
    endpoint && !endpoint.healthy ? h("div", { class: "endpoint" }, `The chain endpoint ${endpoint.rpc} is unhealthy.`) : null,
    final ? null : h("div", { class: "hint" }, "Retrying every 2 s; the page recovers by itself."),
  );
  banner.dataset.code = body.code;
  banner.hidden = false;
  document.body.classList.add("stale");
  setLive(false, body.error);
}

function hideBanner() {
  const banner = document.getElementById("banner");
  banner.hidden = true;
  delete banner.dataset.code;
  document.body.classList.remove("stale");
}

function setLive(ok, title) {
  const live = document.getElementById("live");
  live.className = ok ? "live ok" : "live down";
  live.textContent = ok ? "live" : "offline";
  live.title = title;
}

// ------------------------------------------------------------ network page

// What closing each phase does once its deadline passed.
const PHASE_CLOSE = {
  commit: "then any node may close commitments with fewer than K",
  reveal: "then any node may close reveals; unrevealed commitments drop",
  scoring: "then voting ends and any node may close scoring with a quorum",
};

function renderOverview(o) {
  const d = o.deadlines;
  const u = o.updates;
  document.getElementById("network").textContent = `contract ${o.network.address} · chain ${o.network.chain_id}`;
  fill(
    "overview",
    card("Round", h("span", { id: "round-number" }, o.round), h("span", {}, badge(o.phase, o.phase), ` since block ${o.phase_start_block}`), { "data-round": o.round }),
    card("Block", h("span", { id: "block-number" }, o.block), `round started at block ${o.round_start_block}`),
    card("Updates", `${u.commitments} / ${u.needed} committed`, `${u.revealed} revealed · ${u.final} final · K = ${u.needed} commitments end the commit phase`),
    d.phase
      ? card("Phase deadline", blocksLeft(d.phase), `block ${d.phase.block}: ${PHASE_CLOSE[o.phase]}`)
      : card("Phase deadline", "none", "aggregating: the committee proposes the aggregate of the qualified updates"),
    card("Round deadline", blocksLeft(d.round), `block ${d.round.block}: then an unfinished committee may be replaced`),
    card("Current model", hash(o.model.hash), h("span", {}, badge(o.model.origin, o.model.origin), " ", o.model.uri || ""), { id: "current-model", "data-hash": o.model.hash }),
  );
}

function committeeTable(members, total, attrs) {
  if (!members.length) return empty("No committee for this round.");
  const rows = members.map((m) =>
    h(
      "tr",
      { "data-address": m.address },
      h("td", {}, addr(m.address), m.manager ? badge("manager", "manager") : null),
      h("td", { class: "num" }, `${m.votes} / ${total}`),
      h("td", {}, hash(m.proposal)),
    ),
  );
  return table(["member", "votes cast", "proposed model"], rows, attrs);
}

function renderCommittee(o) {
  document.getElementById("committee-round").textContent = `round ${o.round}`;
  fill("committee", committeeTable(o.committee, o.updates.revealed, { id: "committee-table" }));
}

function verdictCell(u) {
  return h("td", { class: "verdict" }, badge(u.verdict, u.verdict, u.reason || ""), h("div", { class: "detail" }, u.detail));
}

function renderScores(r) {
  document.getElementById("round-label").textContent = `round ${r.round}`;
  document.getElementById("scores-status").textContent = r.status.replace(/_/g, " ");
  document.getElementById("round-prev").disabled = r.round === 0;
  document.getElementById("round-next").disabled = r.round >= view.current;
  document.getElementById("round-live").disabled = view.round === null;
  if (!r.updates.length) {
    const note = r.current
      ? `No updates in round ${r.round} yet. Admitted nodes outside the committee commit to one each (${r.updates_needed} commitments end the commit phase), then reveal it for the committee to score.`
      : `Round ${r.round} ended (${r.status.replace(/_/g, " ")}) without updates.`;
    fill("scores", empty(note));
    return;
  }
  const members = r.committee.map((m) => m.address);
  const rows = r.updates.map((u) =>
    h(
      "tr",
      { "data-update": u.id, class: u.verdict },
      h("td", { class: "num" }, u.id),
      h("td", {}, addr(u.provider)),
      h("td", {}, hash(u.blob_hash)),
      h("td", { class: "num" }, u.n_samples),
      members.map((m) => h("td", { class: "num score", "data-member": m, "data-score": u.scores[m] ?? "" }, score(u.scores[m]))),
      h("td", { class: "num median", "data-median": u.median ?? "" }, score(u.median)),
      verdictCell(u),
    ),
  );
  const headers = ["id", "provider", "blob", "samples", ...members.map((m) => h("span", { title: m }, `${m.slice(0, 6)}…`)), "median", "verdict"];
  fill("scores", h("div", { class: "scroll" }, table(headers, rows, { id: "scores-table" })));
}

function renderChart(models) {
  const source = models.accuracy_source === "none"
    ? "No accuracy source: start the dashboard with --nodes-dir (node state directories) to plot the nodes' test accuracy."
    : "Mean test accuracy the nodes measured on their own data, per global model.";
  document.getElementById("accuracy-source").textContent = source;
  const points = models.models.filter((m) => m.accuracy !== null);
  if (!points.length) {
    fill("chart", empty(models.accuracy_source === "none" ? "Accuracy is not tracked for this network." : "No node has reported an accuracy yet."));
    return;
  }
  const W = 560, H = 240, L = 44, R = 12, T = 12, B = 32;
  const last = Math.max(1, models.models.length - 1);
  const x = (r) => L + ((W - L - R) * r) / last;
  const y = (a) => T + (H - T - B) * (1 - a);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((a) => [
    svg("line", { x1: L, x2: W - R, y1: y(a), y2: y(a), class: "grid" }),
    svg("text", { x: L - 6, y: y(a) + 4, class: "tick", "text-anchor": "end" }, `${a * 100}%`),
  ]);
  const step = Math.max(1, Math.ceil(models.models.length / 10));
  const ticks = models.models.filter((m) => m.round % step === 0).map((m) => svg("text", { x: x(m.round), y: H - B + 16, class: "tick", "text-anchor": "middle" }, m.round));
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.round).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(" ");
  const dots = points.map((p) =>
    svg(
      "circle",
      { cx: x(p.round), cy: y(p.accuracy), r: 4.5, fill: ORIGIN_COLORS[p.origin] || "#111", class: "point", "data-round": p.round, "data-accuracy": p.accuracy },
      svg("title", {}, `round ${p.round}: ${percent(p.accuracy)} (${p.reports} nodes, ${p.origin})`),
    ),
  );
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", id: "accuracy-chart", role: "img", "aria-label": "accuracy per round" },
    grid,
    ticks,
    svg("text", { x: (L + W - R) / 2, y: H - 2, class: "axis", "text-anchor": "middle" }, "round"),
    svg("path", { d: path, class: "line" }),
    dots,
  );
  const legend = h("div", { class: "legend" }, Object.entries(ORIGIN_COLORS).map(([name, color]) => h("span", {}, h("i", { style: `background:${color}` }), name)));
  fill("chart", chart, legend);
}

function renderModels(models) {
  const rows = [...models.models].reverse().map((m) =>
    h(
      "tr",
      { "data-round": m.round, "data-hash": m.hash },
      h("td", { class: "num" }, m.round),
      h("td", {}, hash(m.hash)),
      h("td", {}, badge(m.origin, m.origin)),
      h("td", { class: "num" }, percent(m.accuracy)),
      h("td", { class: "num" }, m.reports || "—"),
      h("td", { class: "num" }, m.block),
      h("td", { class: "uri" }, m.uri || "—"),
    ),
  );
  fill("models", h("div", { class: "scroll tall" }, table(["round", "model", "origin", "accuracy", "reports", "block", "uri"], rows, { id: "models-table" })));
}

function terms(rounds) {
  if (!rounds.length) return "—";
  const shown = rounds.slice(-6).join(", ");
  return rounds.length > 6 ? `${rounds.length} terms: …, ${shown}` : shown;
}

function nodeRow(n) {
  return h(
    "tr",
    { "data-address": n.address },
    h("td", {}, addr(n.address), n.manager ? badge("manager", "manager") : null),
    h("td", {}, badge(n.status, n.status)),
    h("td", { class: "num" }, wei(n.balance_wei)),
    h("td", { class: "num" }, wei(n.rewards_wei)),
    h("td", { class: "num" }, n.submission_count),
    h("td", { title: n.committee_terms.join(", ") }, terms(n.committee_terms)),
  );
}

function renderNodes(nodes) {
  if (!nodes.nodes.length) return fill("nodes", empty("No nodes yet."));
  fill("nodes", h("div", { class: "scroll tall" }, table(["node", "status", "balance", "rewards", "updates", "committee rounds"], nodes.nodes.map(nodeRow), { id: "nodes-table" })));
}

function renderDecisions(c) {
  document.getElementById("council-threshold").textContent = `${c.threshold} of ${c.managers.length} managers decide`;
  if (!c.decisions.length) return fill("decisions", empty("No open decisions."));
  const rows = c.decisions.map((d) =>
    h(
      "tr",
      { "data-decision": d.id },
      h("td", { class: "num" }, d.id),
      h("td", {}, h("code", { class: "call" }, `${d.target}.${d.call}`)),
      h("td", { class: "approvals" }, badge(d.status, `${d.approvals.length} of ${d.threshold}`), " ", d.approvals.map((a, i) => [i ? ", " : "", addr(a)])),
      h("td", {}, addr(d.proposer)),
      h("td", { class: "num" }, `block ${d.expiry.block}`, h("div", { class: "detail" }, blocksLeft(d.expiry))),
    ),
  );
  fill("decisions", h("div", { class: "scroll" }, table(["id", "call", "approvals", "proposed by", "expires"], rows, { id: "decisions-table" })));
}

function eventText(e) {
  const a = e.args;
  const by = a.by ? ["by ", addr(a.by)] : [];
  switch (e.name) {
    case "NodeApplied": return [addr(a.node), ` applied, paying ${wei(a.fee)}`];
    case "NodeAdmitted": return [addr(a.node), " admitted ", ...by, a.fee !== "0" ? ` (fee ${wei(a.fee)})` : ""];
    case "NodeBlacklisted": return [addr(a.node), " blacklisted ", ...by];
    case "NodeLeft": return [addr(a.node), " left"];
    case "NodeRejoined": return [addr(a.node), " rejoined"];
    case "CommitteeReplaced": return [`round ${a.round}: committee replaced `, ...by, " with ", a.members.map((m, i) => [i ? ", " : "", addr(m)])];
    case "Failback": return [`failback from round ${a.from_round} to the model of round ${a.to_round} `, ...by];
    case "RoundSkipped": return [`round ${a.round} skipped: no update qualified; model and committee carried over`];
    case "DecisionProposed": return [`decision ${a.id} proposed by `, addr(a.proposer), `, open until block ${a.expiry}`];
    case "DecisionApproved": return [`decision ${a.id} approved by `, addr(a.manager), ` (${a.approvals} approval${a.approvals === 1 ? "" : "s"})`];
    case "DecisionRevoked": return [addr(a.manager), ` took back its approval of decision ${a.id} (${a.approvals} left)`];
    case "DecisionExecuted": return [`decision ${a.id} ran `, ...by];
    case "DecisionExpired": return [`decision ${a.id} expired without running`];
    case "ManagerAdded": return [addr(a.manager), " became a manager"];
    case "ManagerRemoved": return [addr(a.manager), " is no longer a manager"];
    case "ThresholdChanged": return [`a decision now needs ${a.threshold} manager approval${a.threshold === 1 ? "" : "s"}`];
    default: return [JSON.stringify(a)];
  }
}

function eventList(events) {
  if (!events.length) return empty("Nothing has happened yet beyond the rounds themselves.");
  return h("ul", { class: "events" }, events.map((e) => h("li", { "data-name": e.name }, h("span", { class: "block" }, `#${e.block}`), badge("event", e.name), " ", eventText(e))));
}

async function refreshNetwork(current) {
  // One request, so that every panel shows the same block.
  const snap = await api(view.round === null ? "/api/snapshot" : `/api/snapshot?round=${view.round}`);
  if (!current()) return;
  view.current = snap.overview.round;
  renderOverview(snap.overview);
  renderCommittee(snap.overview);
  renderScores(snap.round);
  renderChart(snap.models);
  renderModels(snap.models);
  renderNodes(snap.nodes);
  renderDecisions(snap.decisions);
  fill("events", eventList(snap.events.events));
  document.getElementById("network-view").hidden = false;
}

function pickRound(round) {
  view.round = round === null || round >= view.current ? null : Math.max(0, round);
  tick();
}

// ------------------------------------------------------------ node page

async function refreshNode(address, current) {
  const n = await api(`/api/nodes/${address}`);
  if (!current()) return;
  document.getElementById("network").textContent = `node ${n.address}`;
  fill(
    "node-summary",
    card("Node", h("code", { id: "node-address" }, n.address), n.manager ? badge("manager", "manager") : null),
    card("Status", badge(n.status, n.status)),
    card("Balance", wei(n.balance_wei), n.escrow_wei !== "0" ? `${wei(n.escrow_wei)} in escrow` : null),
    card("Rewards earned", wei(n.rewards_wei), `${n.rewards.length} payments`),
    card("Updates submitted", n.submissions.length),
    card("Committee terms", n.terms.length),
  );
  const subs = n.submissions.map((u) =>
    h(
      "tr",
      { "data-update": u.id },
      h("td", { class: "num" }, u.round),
      h("td", { class: "num" }, u.id),
      h("td", {}, hash(u.blob_hash)),
      h("td", { class: "num" }, u.n_samples),
      h("td", {}, Object.keys(u.scores).length ? Object.entries(u.scores).map(([m, s]) => h("span", { class: "vote", title: m }, `${m.slice(0, 6)}… ${score(s)}`)) : h("span", { class: "muted" }, "no votes yet")),
      h("td", { class: "num" }, score(u.median)),
      verdictCell(u),
    ),
  );
  fill("node-submissions", subs.length ? table(["round", "id", "blob", "samples", "scores received", "median", "verdict"], subs) : empty("This node has not submitted an update."));
  const terms = n.terms.map((t) => h("tr", {}, h("td", { class: "num" }, t.round), h("td", { class: "num" }, t.votes), h("td", {}, hash(t.proposal))));
  fill("node-terms", terms.length ? table(["round", "votes cast", "proposed model"], terms) : empty("This node has not served on a committee."));
  const rewards = n.rewards.map((r) => h("tr", {}, h("td", { class: "num" }, r.round), h("td", { class: "num" }, wei(r.amount_wei)), h("td", {}, r.for_committee ? "committee work" : "qualified update")));
  fill("node-rewards", rewards.length ? table(["round", "amount", "for"], rewards) : empty("No rewards paid to this node yet."));
  fill("node-events", eventList(n.events.slice().reverse()));
  document.getElementById("node-view").hidden = false;
}

// ------------------------------------------------------------ loop

let timer = null;
let generation = 0;

// A click starts a refresh at once; an older one still in flight then
// neither draws nor schedules the next poll, so there is one loop only.
async function tick() {
  clearTimeout(timer);
  const mine = ++generation;
  const current = () => mine === generation;
  const match = window.location.pathname.match(NODE_PATH);
  try {
    await (match ? refreshNode(match[1], current) : refreshNetwork(current));
    if (current()) {
      hideBanner();
      setLive(true, `updated ${new Date().toLocaleTimeString()}`);
    }
  } catch (exc) {
    if (current()) showBanner(exc);
  } finally {
    if (current()) timer = setTimeout(tick, POLL_MS);
  }
}

document.getElementById("round-prev").addEventListener("click", () => pickRound((view.round ?? view.current) - 1));
document.getElementById("round-next").addEventListener("click", () => pickRound((view.round ?? view.current) + 1));
document.getElementById("round-live").addEventListener("click", () => pickRound(null));
tick();
