/*
 * cosigner multisig dashboard: a read-only view of groups and proposals that
 * follows /multisig/ws live. Plain JavaScript, no framework, no build step.
 *
 * Safety rules this file keeps:
 * - every string from the server reaches the page as text (textContent,
 *   text nodes, attribute values), never as HTML;
 * - the dashboard token comes from the URL fragment (#token=...) or the
 *   token form, is kept in this tab only (sessionStorage), is removed from
 *   the address bar at once and is never logged.
 *
 * Data flow: REST reads (/multisig/groups, every group page by page;
 * /multisig/groups/{id}, .../proposals, /multisig/proposals/{id}/events)
 * give the records; each WebSocket event names what changed, and that
 * record is read again (the record is the truth, the event only a nudge).
 * After every (re)connection everything is read again, so nothing missed
 * while offline stays missing.
 */
"use strict";

(() => {
  const TOKEN_KEY = "cosigner.dashboard.token";
  const GROUPS_KEY = "cosigner.dashboard.groups";
  const FEED_MAX = 60;
  const AUDIT_LIMIT = 500;
  const GROUPS_PAGE = 500;
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const PING_MS = 25000;
  const CLOSE_UNAUTHORIZED = 4401;

  const state = {
    token: null,
    groups: new Map(), // groupId -> group record
    proposals: new Map(), // groupId -> Map(proposalId -> proposal record)
    progress: new Map(), // groupId -> data of its last dkg_progress event
    groupNodes: new Map(), // groupId -> <article>
    audits: new Map(), // proposalId -> events, oldest first
    openAudits: new Set(),
    socket: null,
    attempts: 0,
    reconnectTimer: null,
    countdownTimer: null,
    pingTimer: null,
    refreshing: new Map(),
    canList: true,
  };

  const $ = (id) => document.getElementById(id);

  // -- DOM helpers: text only --------------------------------------------------------------

  const ATTRIBUTES = new Set(["title", "role", "datetime", "for", "aria-label", "aria-live"]);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = String(value);
      else if (name.startsWith("data-") || ATTRIBUTES.has(name)) node.setAttribute(name, String(value));
      else node[name] = value;
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function shortHex(hex, head = 8, tail = 4) {
    const text = String(hex ?? "");
    return text.length > head + tail + 1 ? `${text.slice(0, head)}…${text.slice(-tail)}` : text;
  }

  function code(text, full) {
    return el("code", { text: text, title: full ?? null });
  }

  function keyCode(hex) {
    return code(shortHex(hex), String(hex ?? ""));
  }

  function fmtTime(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return "";
    return new Date(ms).toLocaleString();
  }

  function timeEl(ms) {
    if (typeof ms !== "number") return "";
    return el("time", { datetime: new Date(ms).toISOString(), text: fmtTime(ms) });
  }

  function badge(status) {
    return el("span", { class: `badge status-${String(status).replace(/[^a-z_]/g, "")}`, text: status });
  }

  function plain(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  // -- owners ----------------------------------------------------------------------------------

  /** "owner N" (N in the group's owner order), or "" when the group is not loaded yet. */
  function ownerLabel(group, hex) {
    if (!group) return "";
    const index = (group.owners || []).findIndex((o) => o.key === hex);
    return index >= 0 ? `owner ${index + 1} ` : "not an owner ";
  }

  function ownerRef(group, hex) {
    return el("span", { class: "owner-ref" }, ownerLabel(group, hex), keyCode(hex));
  }

  // -- connection state ------------------------------------------------------------------------

  function setConnection(kind, text) {
    const node = $("connection");
    node.dataset.state = kind;
    $("connection-text").textContent = text;
  }

  function notice(text) {
    $("notice").textContent = text || "";
  }

  // -- token -----------------------------------------------------------------------------------

  function readToken() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const fromFragment = fragment.get("token");
    for (const id of fragment.getAll("group")) rememberGroup(id);
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    if (fromFragment) {
      sessionStorage.setItem(TOKEN_KEY, fromFragment);
      return fromFragment;
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askToken(message) {
    stopSocket();
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("main").hidden = true;
    $("forget-token").hidden = true;
    $("token-panel").hidden = false;
    const error = $("token-error");
    error.textContent = message || "";
    error.hidden = !message;
    setConnection(message ? "unauthorized" : "idle", message ? "token refused" : "no token");
    $("token-input").focus();
  }

  function useToken(token) {
    state.token = token;
    $("token-panel").hidden = true;
    $("main").hidden = false;
    $("forget-token").hidden = false;
    connect();
    resync();
  }

  // -- REST ------------------------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.code = (body && body.code) || "";
    }
  }

  async function api(path) {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) throw new HttpError(response.status, body);
    return body;
  }

  const enc = encodeURIComponent;

  function failed(error, what) {
    if (error instanceof HttpError && error.status === 401) {
      askToken("The server refused the dashboard token.");
      return;
    }
    notice(`Could not read ${what}: ${error.message}`);
  }

  /**
   * Run ``task`` for ``key`` once at a time; a call while it runs makes it run once more
   * afterwards (so the last change is always read). Resolves when the runs are over.
   */
  function refresh(key, task) {
    const running = state.refreshing.get(key);
    if (running) {
      running.again = true;
      return running.done;
    }
    const entry = { again: false, done: null };
    state.refreshing.set(key, entry);
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          await task();
        } while (entry.again);
      } finally {
        state.refreshing.delete(key);
      }
    })();
    return entry.done;
  }

  // -- the records -----------------------------------------------------------------------------

  function knownGroupIds() {
    try {
      const ids = JSON.parse(localStorage.getItem(GROUPS_KEY) || "[]");
      return Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
    } catch (_) {
      return [];
    }
  }

  function rememberGroup(id) {
    if (typeof id !== "string" || !id) return;
    const ids = knownGroupIds();
    if (!ids.includes(id)) localStorage.setItem(GROUPS_KEY, JSON.stringify([...ids, id]));
  }

  function forgetGroup(id) {
    localStorage.setItem(GROUPS_KEY, JSON.stringify(knownGroupIds().filter((x) => x !== id)));
  }

  function putGroup(group) {
    const old = state.groups.get(group.group_id);
    if (old && old.version > group.version) return;
    state.groups.set(group.group_id, group);
    rememberGroup(group.group_id);
  }

  function putProposal(proposal) {
    let map = state.proposals.get(proposal.group_id);
    if (!map) {
      map = new Map();
      state.proposals.set(proposal.group_id, map);
    }
    const old = map.get(proposal.proposal_id);
    if (old && old.version > proposal.version) return;
    map.set(proposal.proposal_id, proposal);
  }

  async function loadGroup(groupId) {
    try {
      putGroup(await api(`/multisig/groups/${enc(groupId)}`));
      const { proposals } = await api(`/multisig/groups/${enc(groupId)}/proposals`);
      for (const proposal of proposals) putProposal(proposal);
      for (const proposalId of state.openAudits) {
        if (state.proposals.get(groupId)?.has(proposalId)) loadAudit(proposalId);
      }
      renderGroup(groupId);
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) {
        forgetGroup(groupId);
        notice(`There is no group ${groupId}.`);
        return;
      }
      failed(error, `group ${groupId}`);
    }
  }

  async function loadProposal(proposalId, groupId) {
    try {
      const proposal = await api(`/multisig/proposals/${enc(proposalId)}`);
      putProposal(proposal);
      renderGroup(proposal.group_id);
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return;
      failed(error, `proposal ${proposalId}`);
    }
    if (!state.groups.has(groupId)) refresh(`g:${groupId}`, () => loadGroup(groupId));
  }

  async function loadAudit(proposalId) {
    try {
      const { events } = await api(`/multisig/proposals/${enc(proposalId)}/events?limit=${AUDIT_LIMIT}`);
      const seen = new Map((state.audits.get(proposalId) || []).map((e) => [e.id, e]));
      for (const event of events) seen.set(event.id, event);
      state.audits.set(proposalId, sortEvents([...seen.values()]));
      renderAudit(proposalId);
    } catch (error) {
      failed(error, "the audit trail");
    }
  }

  function sortEvents(events) {
    return events.sort((a, b) => (a.at - b.at) || ((a.seq ?? Infinity) - (b.seq ?? Infinity)));
  }

  async function resync() {
    const ids = new Set([...knownGroupIds(), ...state.groups.keys()]);
    // The listing gives the dashboard token every group, a page at a time (``next`` is the
    // ``after`` of the following page). Should a server refuse it (403), groups are found
    // through their events, the fragment and the remembered ids.
    if (state.canList) {
      try {
        let after = null;
        do {
          const query = after === null ? "" : `&after=${enc(after)}`;
          const page = await api(`/multisig/groups?limit=${GROUPS_PAGE}${query}`);
          for (const group of page.groups) {
            putGroup(group);
            ids.add(group.group_id);
          }
          after = typeof page.next === "string" && page.next !== after ? page.next : null;
        } while (after !== null);
      } catch (error) {
        if (error instanceof HttpError && error.status === 403) state.canList = false;
        else if (error instanceof HttpError && error.status === 401) return failed(error, "groups");
        else notice(`Could not list groups: ${error.message}`);
      }
    }
    await Promise.all([...ids].map((id) => refresh(`g:${id}`, () => loadGroup(id))));
    renderEmpty();
  }

  // -- events ----------------------------------------------------------------------------------

  function onEvent(event) {
    addToFeed(event);
    const groupId = event.groupId;
    if (typeof groupId !== "string") return;
    if (event.type === "dkg_progress" && event.data) state.progress.set(groupId, event.data);
    if (!state.groups.has(groupId)) {
      rememberGroup(groupId);
      refresh(`g:${groupId}`, () => loadGroup(groupId));
      return;
    }
    const proposalId = event.proposalId;
    if (typeof proposalId === "string") {
      if (state.openAudits.has(proposalId)) {
        const events = (state.audits.get(proposalId) || []).filter((e) => e.id !== event.id);
        state.audits.set(proposalId, sortEvents([...events, event]));
        renderAudit(proposalId);
      }
      refresh(`p:${proposalId}`, () => loadProposal(proposalId, groupId));
    } else {
      refresh(`g:${groupId}`, () => loadGroup(groupId));
    }
  }

  function describe(event) {
    const d = event.data || {};
    const attempt = d.attempt > 1 ? ` (attempt ${d.attempt})` : "";
    switch (event.type) {
      case "group_created":
        return `${d.threshold} of ${(d.owners || []).length} group created`;
      case "dkg_progress":
        return `${d.kind || "dkg"} ${d.step}: ${d.received} of ${d.expected} in` +
          (d.stage !== d.step ? `; ${d.stage} open` : "");
      case "group_active":
        return `active, epoch ${d.epoch}, key ${shortHex(d.group_public_key)}`;
      case "dkg_failed":
      case "refresh_failed":
        return `${d.code}: ${d.message}`;
      case "refresh_started":
        return `refresh started (${d.session})`;
      case "refresh_completed":
        return `refresh completed, epoch ${d.epoch}`;
      case "proposal_created":
        return d.summary || `${d.kind} proposed`;
      case "commitment_added":
        return `commitment ${d.received} of ${d.threshold}${attempt}` +
          (d.signing_package_fixed ? ", signing package fixed" : "");
      case "share_added":
        return `signature share ${d.received} of ${d.threshold}${attempt}`;
      case "share_rejected":
        return `share rejected (${d.code}); now ${d.status}${attempt}`;
      case "proposal_ready":
        return `signed: ${shortHex(d.signature, 16, 8)}`;
      case "proposal_executed":
        return `executed${d.execution_ref ? `: ${d.execution_ref}` : ""}`;
      case "proposal_cancelled":
        return `cancelled (${String(d.reason || "").replace(/_/g, " ")})`;
      case "proposal_expired":
        return "expired";
      case "proposal_failed":
        return `failed: ${d.reason}`;
      default:
        return "";
    }
  }

  function eventActor(event) {
    const d = event.data || {};
    return d.owner || d.proposer || d.created_by || d.started_by || d.reported_by || null;
  }

  function addToFeed(event) {
    const feed = $("feed");
    const group = state.groups.get(event.groupId);
    const actor = eventActor(event);
    const item = el(
      "li",
      { class: "event", "data-type": event.type },
      el("div", { class: "event-head" }, el("strong", { text: event.type }), " ", timeEl(event.at)),
      el("div", { class: "muted" }, "group ", code(shortHex(event.groupId, 10, 4), event.groupId),
        event.proposalId ? [" · proposal ", code(shortHex(event.proposalId, 10, 4), event.proposalId)] : null),
      el("div", {}, describe(event), actor ? [" · ", ownerRef(group, actor)] : null),
    );
    feed.prepend(item);
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  }

  // -- WebSocket -------------------------------------------------------------------------------

  function stopSocket() {
    clearTimeout(state.reconnectTimer);
    clearInterval(state.countdownTimer);
    clearInterval(state.pingTimer);
    const socket = state.socket;
    state.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, "bye");
    }
  }

  function connect() {
    stopSocket();
    if (!state.token) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    setConnection("connecting", state.attempts ? "reconnecting…" : "connecting…");
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/multisig/ws`);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    state.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "auth", token: state.token }));
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      if (!event || typeof event !== "object") return;
      if (event.type === "subscribed") {
        state.attempts = 0;
        setConnection("live", "live");
        state.pingTimer = setInterval(() => {
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
        }, PING_MS);
        resync();
      } else if (event.type !== "pong") {
        onEvent(event);
      }
    };
    socket.onclose = (close) => {
      clearInterval(state.pingTimer);
      if (state.socket !== socket) return;
      state.socket = null;
      if (close.code === CLOSE_UNAUTHORIZED) {
        askToken("The server refused the dashboard token.");
        return;
      }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempts);
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    state.attempts += 1;
    const due = Date.now() + jittered;
    const show = () => {
      const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setConnection("reconnecting", `offline · retrying in ${seconds} s`);
    };
    show();
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(show, 1000);
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(() => {
      clearInterval(state.countdownTimer);
      connect();
    }, jittered);
  }

  // -- rendering -------------------------------------------------------------------------------

  function renderEmpty() {
    $("no-groups").hidden = state.groups.size > 0;
  }

  function renderGroup(groupId) {
    const group = state.groups.get(groupId);
    if (!group) return;
    const node = groupCard(group);
    const old = state.groupNodes.get(groupId);
    if (old && old.isConnected) {
      old.replaceWith(node);
    } else {
      const list = $("groups");
      // Newest group first.
      const after = [...list.querySelectorAll("article.group")].find(
        (other) => Number(other.dataset.createdAt) < group.created_at,
      );
      list.insertBefore(node, after || null);
    }
    state.groupNodes.set(groupId, node);
    renderEmpty();
  }

  function groupCard(group) {
    const owners = group.owners || [];
    const proposals = [...(state.proposals.get(group.group_id)?.values() || [])].sort(
      (a, b) => b.created_at - a.created_at,
    );
    return el(
      "article",
      { class: "group card", "data-group-id": group.group_id, "data-created-at": group.created_at },
      el(
        "header",
        { class: "card-head" },
        el("h2", {}, "Group ", code(group.group_id)),
        badge(group.status),
        el("span", { class: "threshold", "data-role": "threshold", text: `${group.threshold} of ${owners.length}` }),
      ),
      el(
        "dl",
        { class: "facts" },
        fact("Group key", group.group_public_key ? keyCode(group.group_public_key) : "not yet (DKG)"),
        fact("Scheme", group.scheme),
        fact("Epoch", group.epoch),
        fact("Next nonce", group.next_nonce),
        fact("Created", timeEl(group.created_at)),
      ),
      keygenLine(group),
      failureLine(group.failure, "DKG failed"),
      failureLine(group.last_refresh_failure, "Last refresh failed"),
      el(
        "section",
        { class: "owners" },
        el("h3", { text: `Owners (${owners.length})` }),
        el(
          "ol",
          {},
          owners.map((o) =>
            el("li", { "data-owner": o.key }, keyCode(o.key), o.key === group.created_by ? el("span", { class: "tag", text: "creator" }) : null),
          ),
        ),
      ),
      el(
        "section",
        { class: "proposals" },
        el("h3", { text: `Proposals (${proposals.length})` }),
        proposals.length ? proposals.map((p) => proposalCard(group, p)) : el("p", { class: "empty", text: "No proposals yet." }),
      ),
    );
  }

  function fact(name, value) {
    return [el("dt", { text: name }), el("dd", {}, value)];
  }

  function keygenLine(group) {
    const session = group.session;
    if (!session) return null;
    const progress = state.progress.get(group.group_id);
    // ``step`` is the kind of message counted; ``stage`` the stage open after it.
    const current = progress && progress.session === session.name && progress.step === session.stage;
    return el(
      "p",
      { class: "keygen", "data-role": "keygen" },
      `${session.kind === "refresh" ? "Refresh" : "DKG"} in progress: stage ${session.stage}`,
      current ? ` · ${progress.received} of ${progress.expected} owners in` : "",
    );
  }

  function failureLine(failure, label) {
    if (!failure) return null;
    return el(
      "p",
      { class: "error" },
      `${label}: `,
      code(failure.code),
      ` ${failure.message}`,
    );
  }

  function progressRow(label, role, count, of) {
    return el(
      "div",
      { class: "progress-row" },
      el("span", { class: "progress-label", text: label }),
      el("progress", { max: of, value: Math.min(count, of) }),
      el("span", { class: "progress-count", "data-role": role, text: `${count} of ${of}` }),
    );
  }

  function proposalCard(group, p) {
    const ui = p.ui_model || {};
    const commitments = p.commitments || {};
    const shares = p.shares || {};
    const excluded = new Set(p.excluded || []);
    const signers = Object.keys(shares);
    const kind = p.kind === "intent" ? `${p.chain} ${p.intent_kind}` : p.operation_type || ui.kind || p.kind;
    return el(
      "article",
      { class: "proposal", "data-proposal-id": p.proposal_id, "data-status": p.status },
      el(
        "header",
        { class: "card-head" },
        el("h4", { class: "summary", text: ui.summary || kind }),
        badge(p.status),
      ),
      el(
        "p",
        { class: "muted" },
        `${p.kind === "intent" ? "chain intent" : "ledger operation"} · ${kind}`,
        p.nonce !== null && p.nonce !== undefined ? ` · nonce ${p.nonce}` : "",
        " · ",
        code(shortHex(p.proposal_id, 12, 4), p.proposal_id),
      ),
      operationFields(ui.fields),
      el(
        "div",
        { class: "progress" },
        progressRow("Commitments", "commitments", Object.keys(commitments).length, group.threshold),
        progressRow("Signature shares", "shares", signers.length, group.threshold),
        p.attempt > 1 ? el("p", { class: "muted", text: `attempt ${p.attempt}` }) : null,
      ),
      el(
        "p",
        { class: "signed-by", "data-role": "signed-by" },
        "Signed by: ",
        signers.length ? signers.map((k, i) => [i ? ", " : "", ownerRef(group, k)]) : el("span", { class: "muted", text: "nobody yet" }),
      ),
      signerTable(group, p, commitments, shares, excluded),
      (p.rejections || []).length
        ? el("ul", { class: "error" }, p.rejections.map((r) => el("li", {}, ownerRef(group, r.owner), ` share rejected (${r.code}) in attempt ${r.attempt}`)))
        : null,
      p.signature ? el("p", { class: "signature" }, "Signature ", code(shortHex(p.signature, 24, 8), p.signature)) : null,
      p.result ? el("p", { class: "result" }, "Result ", code(plain(p.result.hash || p.result.kind)), " ", code(shortHex(p.result.raw || "", 24, 8), p.result.raw || "")) : null,
      p.status_reason ? el("p", { class: "muted", text: `reason: ${String(p.status_reason).replace(/_/g, " ")}` }) : null,
      p.execution_ref ? el("p", { class: "muted" }, "execution ", code(p.execution_ref)) : null,
      el(
        "p",
        { class: "muted meta" },
        "proposed by ",
        ownerRef(group, p.proposer),
        " · ",
        timeEl(p.created_at),
        p.finished_at ? [" · finished ", timeEl(p.finished_at)] : [" · expires ", timeEl(p.expires_at)],
      ),
      auditDetails(p.proposal_id),
    );
  }

  function operationFields(fields) {
    if (!fields || typeof fields !== "object") return null;
    const entries = Object.entries(fields);
    if (!entries.length) return null;
    return el(
      "dl",
      { class: "operation", "data-role": "operation" },
      entries.map(([name, value]) => [el("dt", { text: name.replace(/_/g, " ") }), el("dd", {}, code(plain(value)))]),
    );
  }

  function signerTable(group, p, commitments, shares, excluded) {
    const signing = new Set(p.signing_package ? Object.keys(commitments) : []);
    return el(
      "table",
      { class: "signers" },
      el("thead", {}, el("tr", {}, el("th", { text: "Owner" }), el("th", { text: "Commitment" }), el("th", { text: "Share" }))),
      el(
        "tbody",
        {},
        (group.owners || []).map((o) => {
          const committed = o.key in commitments;
          const signed = o.key in shares;
          let shareText = "—";
          if (signed) shareText = "✓ signed";
          else if (excluded.has(o.key)) shareText = "✗ excluded";
          else if (signing.has(o.key)) shareText = "awaited";
          return el(
            "tr",
            { "data-owner": o.key, "data-signed": signed ? "yes" : "no" },
            el("td", {}, ownerRef(group, o.key)),
            el("td", { class: committed ? "yes" : "no", text: committed ? "✓ committed" : "—" }),
            el("td", { class: signed ? "yes" : excluded.has(o.key) ? "bad" : "no", text: shareText }),
          );
        }),
      ),
    );
  }

  function auditDetails(proposalId) {
    const details = el(
      "details",
      { class: "audit", "data-role": "audit", open: state.openAudits.has(proposalId) },
      el("summary", { text: "Audit trail" }),
      el("ol", { class: "audit-list" }),
    );
    details.addEventListener("toggle", () => {
      // A re-rendered card that starts open fires "toggle" too: only a change counts.
      if (details.open && !state.openAudits.has(proposalId)) {
        state.openAudits.add(proposalId);
        loadAudit(proposalId);
      } else if (!details.open) {
        state.openAudits.delete(proposalId);
      }
    });
    if (details.open) fillAudit(details, proposalId);
    return details;
  }

  function renderAudit(proposalId) {
    for (const details of document.querySelectorAll("details.audit")) {
      if (details.closest("article.proposal")?.dataset.proposalId === proposalId) fillAudit(details, proposalId);
    }
  }

  function fillAudit(details, proposalId) {
    const list = details.querySelector("ol");
    const events = state.audits.get(proposalId);
    const groupId = details.closest("article.group")?.dataset.groupId;
    const group = state.groups.get(groupId);
    if (!events) {
      list.replaceChildren(el("li", { class: "muted", text: "loading…" }));
      return;
    }
    list.replaceChildren(
      ...events.map((event) => {
        const actor = eventActor(event);
        return el(
          "li",
          { "data-type": event.type },
          timeEl(event.at),
          " ",
          el("strong", { text: event.type }),
          " ",
          describe(event),
          actor ? [" · ", ownerRef(group, actor)] : null,
        );
      }),
    );
    if (!events.length) list.append(el("li", { class: "muted", text: "no events recorded" }));
  }

  // -- start -----------------------------------------------------------------------------------

  function start() {
    $("token-form").addEventListener("submit", (submit) => {
      submit.preventDefault();
      const value = $("token-input").value.trim();
      $("token-input").value = "";
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      useToken(value);
    });
    $("forget-token").addEventListener("click", () => askToken(""));
    $("watch-form").addEventListener("submit", (submit) => {
      submit.preventDefault();
      const id = $("watch-input").value.trim();
      $("watch-input").value = "";
      if (!id) return;
      rememberGroup(id);
      refresh(`g:${id}`, () => loadGroup(id));
    });
    window.addEventListener("online", () => {
      if (state.token && !state.socket) connect();
    });
    const token = readToken();
    if (token) useToken(token);
    else askToken("");
  }

  start();
})();
