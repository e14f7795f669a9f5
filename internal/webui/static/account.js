// The account page: sign in (with a password or a code sent by email), sign up, recover a
// forgotten password, list and manage your keys and sessions, change your password or email
// address, set up two-step sign-in (TOTP), add and manage passkeys and sign in with one, sign
// out.
//
// Links in mails open this page with what it needs in the URL fragment
// (#view=reset&token=age_…): browsers send no fragment to any server, so the token is in no
// request log, proxy log or Referer. The page reads it once and removes it from the address
// bar and the history at once, keeping the token only in a variable until it is spent.
//
// The session: the page signs in with mode: COOKIE, so its token lives in an HttpOnly cookie
// that no script, this one included, can read, and the page never holds a token at all
// (nothing in localStorage, sessionStorage or a variable). Requests are same-origin POSTs of
// application/json with X-Requested-With, which is what the server asks before it honours
// that cookie (its CSRF rule). Signing out ends the session, and the server clears the cookie.
"use strict";
(() => {
  const API = "/graphql";

  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(code, message) { super(message); this.code = code; }
  }

  async function gql(query, variables) {
    const headers = {
      "Content-Type": "application/json",
      "X-Requested-With": "authgraph-account",
      "apollographql-client-name": "authgraph-account-page",
      "apollographql-client-version": "1",
    };
    let resp;
    try {
      resp = await fetch(API, { method: "POST", headers, credentials: "same-origin", body: JSON.stringify({ query, variables }) });
    } catch (e) {
      throw new ApiError("NETWORK", "The server cannot be reached. Check your connection and retry.");
    }
    let body;
    try { body = await resp.json(); } catch (e) {
      throw new ApiError("HTTP_" + resp.status, "The server answered HTTP " + resp.status + ".");
    }
    if (body.errors && body.errors.length) {
      const e = body.errors[0];
      throw new ApiError((e.extensions && e.extensions.code) || "ERROR", e.message);
    }
    return body.data;
  }

  // --- messages -------------------------------------------------------------------------
  function say(msg) { $("error").textContent = ""; $("status").textContent = msg; }
  function fail(err) {
    $("status").textContent = "";
    const code = err instanceof ApiError && err.code ? " (" + err.code + ")" : "";
    $("error").textContent = err.message + code;
  }
  async function busy(button, fn) {
    if (button) button.disabled = true;
    try { await fn(); } catch (err) {
      if (err instanceof ApiError && err.code === "UNAUTHENTICATED") {
        showSignIn();
        fail(new ApiError("UNAUTHENTICATED", "Your session has ended. Please sign in again."));
      } else {
        fail(err);
      }
    } finally { if (button) button.disabled = false; }
  }

  function clearMessages() { $("status").textContent = ""; $("error").textContent = ""; }

  // --- views ----------------------------------------------------------------------------
  // The signed-out panels: one shows at a time, in place of the account view.
  const PANELS = ["signin", "signup", "forgot", "code", "resend", "reset", "invite", "verify", "mail-sent"];

  function showPanel(id, focus) {
    $("account").hidden = true;
    $("new-key").hidden = true;
    $("new-key-secret").value = "";
    hideTotpSecrets();
    for (const p of PANELS) $(p).hidden = p !== id;
    const target = focus ? $(focus) : $(id).querySelector("input:not([type=hidden])");
    if (target) target.focus();
  }

  function showSignIn(username) {
    $("whoami").hidden = true;
    showProviders();
    if (username) $("username").value = username;
    $("passkey-signin-row").hidden = !passkeysSupported();
    showPanel("signin", username ? "password" : "username");
    offerPasskeyAutofill();
  }

  // mailSent tells that a mail is on its way (or, for requests that answer the same whoever
  // the address is, that it is if the address has an account).
  function mailSent(text) {
    $("mail-sent-text").textContent = text;
    showPanel("mail-sent", "mail-sent");
  }

  const fmt = (s) => (s ? new Date(s).toLocaleString() : "never");

  // device names the browser or program and the system in a User-Agent header, enough to
  // tell one's sessions apart ("Firefox on Windows"); the full header is its tooltip.
  function device(ua) {
    if (!ua) return "-";
    const browsers = [
      [/Edg(?:e|A|iOS)?\/(\d+)/, "Edge"], [/OPR\/(\d+)/, "Opera"], [/Firefox\/(\d+)/, "Firefox"],
      [/HeadlessChrome\/(\d+)/, "Headless Chrome"], [/(?:Chrome|CriOS)\/(\d+)/, "Chrome"],
      [/Version\/(\d+)[^ ]* .*Safari\//, "Safari"], [/curl\/([\d.]+)/, "curl"],
      [/Go-http-client\/([\d.]+)/, "Go program"], [/python-requests\/([\d.]+)/, "Python requests"],
    ];
    const systems = [
      [/Windows/, "Windows"], [/Android/, "Android"], [/iPhone|iPad|iPod/, "iOS"], [/CrOS/, "ChromeOS"],
      [/Mac OS X|Macintosh/, "macOS"], [/Linux/, "Linux"],
    ];
    let name = ua.split(/[\s/]/)[0];
    for (const [re, n] of browsers) {
      const m = ua.match(re);
      if (m) { name = n + " " + m[1]; break; }
    }
    for (const [re, n] of systems) {
      if (re.test(ua)) return name + " on " + n;
    }
    return name;
  }

  function cell(row, text, asCode) {
    const td = document.createElement("td");
    if (asCode) {
      const c = document.createElement("code");
      c.textContent = text;
      td.appendChild(c);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }

  function actionButton(row, label, ariaLabel, onClick) {
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "danger";
    b.textContent = label;
    b.setAttribute("aria-label", ariaLabel);
    b.addEventListener("click", () => busy(b, () => onClick()));
    td.appendChild(b);
    row.appendChild(td);
  }

  const ACCOUNT = `query AccountPage {
    me {
      username
      role
      email
      emailVerified
      totpEnabled
      account { id slug }
      userKeys(first: 1000) { nodes { id name createdAt lastUsedAt expiresAt } }
      sessions(first: 1000) { nodes { id name method clientName clientVersion userAgent ip createdAt lastUsedAt expiresAt current } }
      securityEvents(first: 20) { nodes { id time type outcome reason ip userAgent } }
      passkeys { id name createdAt lastUsedAt authenticator backupEligible cloneSuspectedAt }
      identities { provider subject email linkedAt }
    }
    signInProviders { name displayName }
  }`;

  async function loadAccount() {
    const { me, signInProviders } = await gql(ACCOUNT);
    cancelConditional();
    showIdentities(me.identities, signInProviders);
    for (const p of PANELS) $(p).hidden = true;
    $("account").hidden = false;
    $("whoami").hidden = false;
    $("current-user").textContent = me.username;
    $("current-account").textContent = me.account && me.account.slug !== "default" ? " (account " + me.account.slug + ")" : "";
    showTotp(me.totpEnabled);
    showEmail(me);

    const keys = $("keys-table").tBodies[0];
    keys.replaceChildren();
    for (const k of me.userKeys.nodes) {
      const tr = document.createElement("tr");
      tr.dataset.keyId = k.id;
      cell(tr, k.name || "(no name)");
      cell(tr, k.id, true);
      cell(tr, fmt(k.createdAt));
      cell(tr, fmt(k.lastUsedAt));
      cell(tr, k.expiresAt ? fmt(k.expiresAt) : "never");
      actionButton(tr, "Delete", "Delete key " + (k.name || k.id), () => deleteKey(k));
      keys.appendChild(tr);
    }
    $("no-keys").hidden = me.userKeys.nodes.length > 0;
    $("keys-table").hidden = me.userKeys.nodes.length === 0;
    showPasskeys(me.passkeys);

    const sessions = $("sessions-table").tBodies[0];
    sessions.replaceChildren();
    let others = 0;
    for (const s of me.sessions.nodes) {
      const tr = document.createElement("tr");
      tr.dataset.sessionId = s.id;
      // The client: its label if it has one, and the program that made it.
      const program = [s.clientName, s.clientVersion].filter(Boolean).join(" ");
      const client = cell(tr, [s.name, program].filter(Boolean).join(" · ") || "unnamed client");
      if (s.current) {
        tr.className = "current";
        client.append(" (this browser)");
      }
      cell(tr, device(s.userAgent)).title = s.userAgent || "";
      cell(tr, s.method === "USER_KEY" ? "user key" : s.method.toLowerCase());
      cell(tr, s.ip || "-");
      cell(tr, s.lastUsedAt ? fmt(s.lastUsedAt) : "-");
      cell(tr, fmt(s.createdAt)).title = "until " + fmt(s.expiresAt);
      const what = [s.name || program || "session", device(s.userAgent), fmt(s.createdAt)].join(", ");
      if (s.current) {
        actionButton(tr, "Sign out", "Sign out of this session", () => signOut());
      } else {
        others++;
        actionButton(tr, "Revoke", "Revoke session " + what, () => revokeSession(s));
      }
      sessions.appendChild(tr);
    }
    $("signout-others").hidden = others === 0;
    showActivity(me.securityEvents.nodes);
    await showServiceKeys(me);
  }

  // --- service keys (account admins) -----------------------------------------------------
  const SERVICE_KEYS = `query AccountServiceKeys($account: ObjectID!, $since: DateTime) {
    serviceAccounts(account: $account) {
      id name disabled
      keys { id name scopes secretHint lastUsedAt quotaRemaining usage(since: $since) { allowed } }
    }
  }`;

  async function showServiceKeys(me) {
    const section = $("service-keys");
    section.hidden = true;
    if (!me.account || (me.role !== "ADMIN" && me.role !== "ACCOUNT_ADMIN")) return;
    let data;
    try {
      const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
      data = await gql(SERVICE_KEYS, { account: me.account.id, since });
    } catch (e) {
      return; // a session without the admin scope: nothing to show
    }
    const rows = $("service-keys-table").tBodies[0];
    rows.replaceChildren();
    let n = 0;
    for (const sa of data.serviceAccounts) {
      for (const k of sa.keys) {
        n++;
        const tr = document.createElement("tr");
        tr.dataset.serviceKeyId = k.id;
        cell(tr, sa.name + (sa.disabled ? " (disabled)" : ""));
        cell(tr, k.name + " …" + k.secretHint);
        cell(tr, k.scopes.join(", "));
        cell(tr, fmt(k.lastUsedAt));
        cell(tr, String(k.usage.reduce((sum, h) => sum + h.allowed, 0)));
        cell(tr, k.quotaRemaining === null ? "no quota" : String(k.quotaRemaining));
        rows.appendChild(tr);
      }
    }
    $("no-service-keys").hidden = n > 0;
    $("service-keys-table").hidden = n === 0;
    section.hidden = false;
  }

  // --- recent activity -------------------------------------------------------------------
  const EVENT_LABELS = {
    "session.sign_in": "Sign-in", "session.otp_required": "Sign-in: code asked", "session.otp_failed": "Sign-in: wrong code",
    "session.rate_limited": "Too many attempts", "session.refresh": "Session renewed", "session.refresh_reuse": "Old session token reused",
    "session.family_revoked": "Sign-in ended", "session.ended": "Signed out", "session.ended_many": "Sessions ended",
    "key.created": "Key created", "key.rerolled": "Key secret replaced", "key.deleted": "Key deleted",
    "password.changed": "Password changed", "password.reset": "Password reset", "password.reset_requested": "Reset link sent by an admin",
    "email.change_requested": "Address change asked", "email.changed": "Address changed", "email.verified": "Address verified",
    "totp.enroll_started": "Two-step sign-in: set-up started", "totp.enabled": "Two-step sign-in on", "totp.disabled": "Two-step sign-in off",
    "user.created": "Account made", "user.signed_up": "Signed up", "user.disabled": "Disabled by an admin", "user.enabled": "Enabled by an admin",
    "user.role_set": "Role changed", "user.renamed": "Username changed", "user.sessions_ended": "Sessions ended by an admin",
    "invitation.created": "Invited", "invitation.accepted": "Invitation accepted",
  };
  const REASONS = { wrong_secret: "wrong password or secret", user_disabled: "account disabled", key_expired: "key expired" };

  function showActivity(events) {
    const body = $("activity-table").tBodies[0];
    body.replaceChildren();
    for (const e of events) {
      const tr = document.createElement("tr");
      tr.dataset.eventType = e.type;
      cell(tr, fmt(e.time));
      cell(tr, EVENT_LABELS[e.type] || e.type);
      const ok = e.outcome === "SUCCESS";
      const result = cell(tr, ok ? "done" : "failed" + (e.reason ? " (" + (REASONS[e.reason] || e.reason.toLowerCase().replaceAll("_", " ")) + ")" : ""));
      if (!ok) result.className = "failed";
      cell(tr, e.ip || "-");
      cell(tr, device(e.userAgent)).title = e.userAgent || "";
      body.appendChild(tr);
    }
    $("no-activity").hidden = events.length > 0;
    $("activity-table").hidden = events.length === 0;
  }

  // --- passkeys ------------------------------------------------------------------------
  // WebAuthn through navigator.credentials. The server answers options as JSON with its
  // binary fields in base64url, and takes the credential back as JSON the same way; the
  // conversions are done here, so that browsers without PublicKeyCredential.toJSON work too.
  const passkeysSupported = () => typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

  function b64u(buf) {
    let s = "";
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromB64u(s) {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  }

  function creationOptions(json) {
    const o = JSON.parse(json).publicKey;
    o.challenge = fromB64u(o.challenge);
    o.user.id = fromB64u(o.user.id);
    for (const c of o.excludeCredentials || []) c.id = fromB64u(c.id);
    return o;
  }
  function requestOptions(json) {
    const o = JSON.parse(json).publicKey;
    o.challenge = fromB64u(o.challenge);
    for (const c of o.allowCredentials || []) c.id = fromB64u(c.id);
    return o;
  }

  function credentialJSON(cred) {
    const r = cred.response;
    const out = {
      id: cred.id, rawId: b64u(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: b64u(r.clientDataJSON) },
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = b64u(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = b64u(r.authenticatorData);
      out.response.signature = b64u(r.signature);
      if (r.userHandle) out.response.userHandle = b64u(r.userHandle);
    }
    return JSON.stringify(out);
  }

  // A browser that refuses or is cancelled says so in a DOMException: told plainly.
  function ceremonyFailed(err) {
    if (err instanceof ApiError) return err;
    const cancelled = err && (err.name === "NotAllowedError" || err.name === "AbortError");
    return new ApiError(err && err.name ? err.name : "ERROR", cancelled
      ? "The passkey request was cancelled or timed out."
      : "The browser could not use a passkey: " + (err && err.message ? err.message : err));
  }

  function showPasskeys(list) {
    const supported = passkeysSupported();
    $("passkeys-unsupported").hidden = supported;
    $("passkey-form").hidden = !supported;
    const body = $("passkeys-table").tBodies[0];
    body.replaceChildren();
    for (const k of list) {
      const tr = document.createElement("tr");
      tr.dataset.passkeyId = k.id;
      const name = cell(tr, k.name);
      if (k.cloneSuspectedAt) {
        const warn = document.createElement("strong");
        warn.className = "unverified";
        warn.textContent = " (refused on " + fmt(k.cloneSuspectedAt) + ": it may have been copied; delete it)";
        name.appendChild(warn);
      }
      cell(tr, (k.authenticator || "passkey") + (k.backupEligible ? ", synced" : ""));
      cell(tr, fmt(k.createdAt));
      cell(tr, fmt(k.lastUsedAt));
      const actions = document.createElement("td");
      const rename = document.createElement("button");
      rename.type = "button";
      rename.className = "secondary";
      rename.textContent = "Rename";
      rename.setAttribute("aria-label", "Rename passkey " + k.name);
      rename.addEventListener("click", () => editPasskeyName(tr, name, k));
      const del = document.createElement("button");
      del.type = "button";
      del.className = "danger";
      del.textContent = "Delete";
      del.setAttribute("aria-label", "Delete passkey " + k.name);
      del.addEventListener("click", () => busy(del, () => deletePasskey(k)));
      actions.append(rename, " ", del);
      tr.appendChild(actions);
      body.appendChild(tr);
    }
    $("no-passkeys").hidden = list.length > 0;
    $("passkeys-table").hidden = list.length === 0;
  }

  async function addPasskey(ev) {
    ev.preventDefault();
    const name = $("passkey-name").value.trim() || "passkey";
    await busy($("passkey-add"), async () => {
      const { beginPasskeyRegistration: opts } = await gql(`mutation AccountBeginPasskey { beginPasskeyRegistration }`);
      let cred;
      try {
        cred = await navigator.credentials.create({ publicKey: creationOptions(opts) });
      } catch (err) {
        throw ceremonyFailed(err);
      }
      await gql(`mutation AccountFinishPasskey($input: FinishPasskeyRegistrationInput!) {
        finishPasskeyRegistration(input: $input) { id } }`, { input: { name, response: credentialJSON(cred) } });
      $("passkey-name").value = "";
      await loadAccount();
      say("Passkey added: you can sign in with it now.");
    });
  }

  function editPasskeyName(tr, nameCell, k) {
    const input = document.createElement("input");
    input.value = k.name;
    input.maxLength = 100;
    input.setAttribute("aria-label", "New name of passkey " + k.name);
    const save = document.createElement("button");
    save.type = "button";
    save.textContent = "Save";
    save.className = "passkey-save";
    save.addEventListener("click", () => busy(save, async () => {
      await gql(`mutation AccountRenamePasskey($input: RenamePasskeyInput!) { renamePasskey(input: $input) { id } }`,
        { input: { passkeyId: k.id, name: input.value.trim() } });
      await loadAccount();
      say("Passkey renamed.");
    }));
    nameCell.replaceChildren(input, save);
    input.focus();
  }

  async function deletePasskey(k) {
    await gql(`mutation AccountDeletePasskey($input: DeletePasskeyInput!) { deletePasskey(input: $input) { id } }`,
      { input: { passkeyId: k.id } });
    await loadAccount();
    say("Passkey " + k.name + " deleted: it signs you in no more.");
  }

  // The sign-in form offers passkeys two ways: the button (a modal browser prompt), and
  // autofill (conditional mediation) on the username field where the browser has it. Only
  // one WebAuthn request may be pending, so the autofill one is cancelled before the modal.
  let conditional = null;

  function cancelConditional() {
    if (conditional) conditional.abort();
    conditional = null;
  }

  async function passkeyOptions() {
    const input = {};
    const account = $("account-slug").value.trim();
    if (account) input.account = account;
    const { beginPasskeySignIn: opts } = await gql(`mutation AccountBeginPasskeySignIn($input: BeginPasskeySignInInput) {
      beginPasskeySignIn(input: $input) }`, { input });
    return requestOptions(opts);
  }

  async function finishPasskeySignIn(cred) {
    await gql(`mutation AccountPasskeySignIn($input: CreateSessionUsingPasskeyInput!) {
      createSessionUsingPasskey(input: $input) { id } }`,
    { input: { response: credentialJSON(cred), name: "account page", mode: "COOKIE" } });
    $("password").value = "";
    await loadAccount();
    say("Signed in with a passkey.");
  }

  async function passkeySignIn() {
    cancelConditional();
    const publicKey = await passkeyOptions();
    let cred;
    try {
      cred = await navigator.credentials.get({ publicKey });
    } catch (err) {
      throw ceremonyFailed(err);
    }
    await finishPasskeySignIn(cred);
  }

  async function offerPasskeyAutofill() {
    cancelConditional();
    if (!passkeysSupported() || !PublicKeyCredential.isConditionalMediationAvailable ||
      !(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    const ctl = new AbortController();
    conditional = ctl;
    let cred;
    try {
      const publicKey = await passkeyOptions();
      cred = await navigator.credentials.get({ publicKey, mediation: "conditional", signal: ctl.signal });
    } catch (err) {
      return; // cancelled (the button, a password sign-in) or unavailable: the form remains
    }
    if (conditional === ctl) conditional = null;
    await busy(null, () => finishPasskeySignIn(cred));
  }

  // --- sign-in providers ------------------------------------------------------------------
  // Signing in with a provider is a plain navigation: the server runs the flow
  // (/auth/{provider}/start) and comes back here with the session cookie set. Linking is a
  // same-origin POST (the CSRF rule), whose answer is where to send the browser.
  const providerNames = {};

  async function showProviders() {
    let list;
    try { list = (await gql(`query SignInProviders { signInProviders { name displayName } }`)).signInProviders; } catch (e) { return; }
    const ul = $("provider-links");
    ul.replaceChildren();
    for (const p of list) {
      providerNames[p.name] = p.displayName;
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.className = "button secondary";
      a.href = "/auth/" + encodeURIComponent(p.name) + "/start?returnTo=" + encodeURIComponent("/account");
      a.textContent = "Sign in with " + p.displayName;
      li.appendChild(a);
      ul.appendChild(li);
    }
    $("providers").hidden = list.length === 0;
  }

  function showIdentities(identities, providers) {
    for (const p of providers) providerNames[p.name] = p.displayName;
    $("identities").hidden = providers.length === 0 && identities.length === 0;
    const body = $("identities-table").tBodies[0];
    body.replaceChildren();
    for (const i of identities) {
      const tr = document.createElement("tr");
      const name = providerNames[i.provider] || i.provider;
      cell(tr, name).title = "subject " + i.subject;
      cell(tr, i.email || "-");
      cell(tr, fmt(i.linkedAt));
      actionButton(tr, "Unlink", "Unlink " + name, () => unlink(i));
      body.appendChild(tr);
    }
    $("no-identities").hidden = identities.length > 0;
    $("identities-table").hidden = identities.length === 0;
    const ul = $("link-buttons");
    ul.replaceChildren();
    for (const p of providers) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = "Link " + p.displayName;
      b.addEventListener("click", () => busy(b, () => link(p.name)));
      li.appendChild(b);
      ul.appendChild(li);
    }
  }

  async function link(provider) {
    const resp = await fetch("/auth/" + encodeURIComponent(provider) + "/link", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "authgraph-account" },
      body: JSON.stringify({ returnTo: "/account#view=linked" }),
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const e = (body.errors && body.errors[0]) || {};
      throw new ApiError((e.extensions && e.extensions.code) || "HTTP_" + resp.status, e.message || "The link could not start.");
    }
    location.assign(body.url);
  }

  async function unlink(i) {
    await gql(`mutation AccountUnlink($p: String!, $s: String!) { unlinkIdentity(input: {provider: $p, subject: $s}) { id } }`,
      { p: i.provider, s: i.subject });
    await loadAccount();
    say("Unlinked " + (providerNames[i.provider] || i.provider) + ".");
  }

  // What a provider sign-in that failed in the browser comes back with (#view=sso-error).
  const SSO_ERRORS = {
    IDENTITY_NOT_LINKED: "No account here is linked to that sign-in. Sign in another way, then link it below.",
    INVALID_CREDENTIALS: "The sign-in with the provider did not complete. Please try again.",
    SERVICE_UNAVAILABLE: "The provider cannot be reached right now. Please try again later.",
    RATE_LIMITED: "Too many attempts. Please retry later.",
    CONFLICT: "That account is linked to another user already.",
    REAUTHENTICATION_REQUIRED: "Linking needs a recent sign-in: sign in again, then link.",
  };

  // --- email address --------------------------------------------------------------------
  let myEmail = null; // the signed-in user's address and account, for "send the link again"

  function showEmail(me) {
    const state = $("email-state");
    state.replaceChildren();
    myEmail = me.email ? { email: me.email, account: me.account ? me.account.slug : "" } : null;
    if (!me.email) {
      state.textContent = "You have no email address yet. Add one to recover your account should you forget your password.";
    } else {
      const addr = document.createElement("strong");
      addr.textContent = me.email;
      const mark = document.createElement("span");
      mark.id = "email-verified";
      mark.className = me.emailVerified ? "verified" : "unverified";
      mark.textContent = me.emailVerified ? "verified" : "not verified yet";
      state.append("Your address: ", addr, " (", mark, ")");
      if (!me.emailVerified) state.append(". Open the link we mailed to it.");
    }
    $("email-resend").hidden = !me.email || me.emailVerified;
  }

  async function changeEmail(ev) {
    ev.preventDefault();
    const email = $("new-email").value.trim(), password = $("email-password").value;
    if (!email || !password) {
      fail(new ApiError("BAD_USER_INPUT", "Enter the new address and your current password."));
      return;
    }
    await busy($("email-submit"), async () => {
      let answer;
      try {
        answer = await gql(`mutation AccountChangeEmail($input: ChangeEmailInput!) { changeEmail(input: $input) { email } }`,
          { input: { email, password } });
      } finally {
        $("email-password").value = "";
      }
      $("new-email").value = "";
      await loadAccount();
      say("We sent a link to " + answer.changeEmail.email + ": your address changes when you open it.");
    });
  }

  async function resendMine() {
    if (!myEmail) return;
    const input = { email: myEmail.email };
    if (myEmail.account) input.account = myEmail.account;
    const { requestEmailVerification: r } = await gql(`mutation AccountResendVerification($input: EmailRequestInput!) {
      requestEmailVerification(input: $input) { email } }`, { input });
    say("A new verification link is on its way to " + r.email + ".");
  }

  // --- signed out: sign-up and mailed links -----------------------------------------------
  // The tokens of the link being followed, kept only until spent.
  let resetToken = "", inviteToken = "";
  // Set when a sign-in code was answered OTP_REQUIRED: the server may have spent the code.
  let codeNeededOtp = false;

  // withAccount adds the optional account slug of a form to input.
  function withAccount(input, field) {
    const account = $(field).value.trim();
    if (account) input.account = account;
    return input;
  }

  // linkFailed reports a link that did not work. An invalid or expired token gets a plain
  // sentence and the form that asks for a new link, instead of the server's terse message.
  function linkFailed(err, kind) {
    if (!(err instanceof ApiError && err.code === "TOKEN_INVALID")) throw err;
    const next = {
      verify: ["resend", "Ask for a new verification link below."],
      reset: ["forgot", "Ask for a new password-reset link below."],
      code: ["code", "Ask for a new code below."],
      invite: ["signin", "Ask whoever invited you for a new invitation; if you have set your password already, sign in."],
    }[kind];
    showPanel(next[0]);
    fail(new ApiError("TOKEN_INVALID", "This link is invalid or has expired: links work once, and for a limited time. " + next[1]));
  }

  async function signUp(ev) {
    ev.preventDefault();
    const username = $("signup-username").value.trim(), email = $("signup-email").value.trim(), password = $("signup-password").value;
    if (!username || !email || !password) {
      fail(new ApiError("BAD_USER_INPUT", "Enter a username, your email address and a password."));
      return;
    }
    await busy($("signup-submit"), async () => {
      const input = withAccount({ username, email, password }, "signup-account");
      const { signUp: r } = await gql(`mutation AccountSignUp($input: SignUpInput!) { signUp(input: $input) { email } }`, { input });
      $("signup-password").value = "";
      $("username").value = username;
      $("account-slug").value = input.account || "";
      mailSent("We sent a link to " + r.email + ". Open it to verify your address, then sign in.");
    });
  }

  // requestMail asks for a mail that the server sends only if the address has an account, and
  // answers the same either way; so does the page.
  async function requestMail(ev, kind) {
    ev.preventDefault();
    const [emailField, accountField, button, mutation, sent] = {
      forgot: ["forgot-email", "forgot-account", "forgot-submit", "requestPasswordReset",
        (a) => "If " + a + " belongs to an account, a link to reset its password (valid for one hour) is on its way to it."],
      resend: ["resend-email", "resend-account", "resend-submit", "requestEmailVerification",
        (a) => "If " + a + " belongs to an account and is not verified yet, a new verification link is on its way to it."],
    }[kind];
    const email = $(emailField).value.trim();
    if (!email) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your email address."));
      return;
    }
    await busy($(button), async () => {
      const input = withAccount({ email }, accountField);
      const data = await gql(`mutation AccountRequestMail($input: EmailRequestInput!) { ${mutation}(input: $input) { email } }`, { input });
      mailSent(sent(data[mutation].email));
    });
  }

  async function requestCode(ev) {
    ev.preventDefault();
    const email = $("code-email").value.trim();
    if (!email) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your email address."));
      return;
    }
    await busy($("code-request-submit"), async () => {
      const input = withAccount({ email }, "code-account");
      const { requestSignInCode: r } = await gql(`mutation AccountRequestCode($input: EmailRequestInput!) {
        requestSignInCode(input: $input) { email } }`, { input });
      codeNeededOtp = false;
      $("code-email").value = r.email;
      $("code-code").value = "";
      $("code-signin-form").hidden = false;
      $("code-code").focus();
      say("If " + r.email + " belongs to an account, a code is on its way to it: enter it below.");
    });
  }

  async function codeSignIn(ev) {
    if (ev) ev.preventDefault();
    const email = $("code-email").value.trim(), code = $("code-code").value.trim();
    if (!email || !code) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your email address and the code from the mail."));
      return;
    }
    await busy($("code-signin-submit"), async () => {
      const input = withAccount({ email, code, name: "account page", mode: "COOKIE" }, "code-account");
      if (!$("code-otp-field").hidden && $("code-otp").value.trim()) input.otp = $("code-otp").value.trim();
      try {
        await gql(`mutation AccountSignInWithCode($input: CreateSessionUsingEmailCodeInput!) {
          createSessionUsingEmailCode(input: $input) { id } }`, { input });
      } catch (err) {
        if (err instanceof ApiError && err.code === "OTP_REQUIRED") {
          codeNeededOtp = true;
          $("code-otp-field").hidden = false;
          $("code-otp").value = "";
          $("code-otp").focus();
          fail(new ApiError("OTP_REQUIRED", "Enter the one-time code from your authenticator app."));
          return;
        }
        if (err instanceof ApiError && err.code === "TOKEN_INVALID") {
          $("code-code").value = "";
          fail(new ApiError("TOKEN_INVALID", codeNeededOtp
            ? "The code from the mail works once and was used up: send yourself a new one, then enter it with the code from your authenticator app."
            : "This code is wrong, used or expired: check it, or send yourself a new one."));
          $("code-request-submit").focus();
          return;
        }
        throw err;
      }
      codeNeededOtp = false;
      $("code-code").value = "";
      $("code-otp").value = "";
      $("code-otp-field").hidden = true;
      $("code-signin-form").hidden = true;
      await loadAccount();
      say("Signed in.");
    });
  }

  async function resetPassword(ev) {
    ev.preventDefault();
    const newPassword = $("reset-password").value;
    if (!newPassword) {
      fail(new ApiError("BAD_USER_INPUT", "Enter a new password."));
      return;
    }
    await busy($("reset-submit"), async () => {
      const input = { token: resetToken, newPassword };
      if (!$("reset-otp-field").hidden && $("reset-otp").value.trim()) input.otp = $("reset-otp").value.trim();
      let u;
      try {
        ({ resetPassword: u } = await gql(`mutation AccountResetPassword($input: ResetPasswordInput!) {
          resetPassword(input: $input) { username } }`, { input }));
      } catch (err) {
        if (err instanceof ApiError && err.code === "OTP_REQUIRED") {
          // The token is not spent: the same form, with the code, tries again.
          $("reset-otp-field").hidden = false;
          $("reset-otp").value = "";
          $("reset-otp").focus();
          fail(new ApiError("OTP_REQUIRED", "Two-step sign-in is on: enter the one-time code from your authenticator app too."));
          return;
        }
        if (err instanceof ApiError && err.code === "TOKEN_INVALID") {
          resetToken = "";
          $("reset-password").value = "";
          linkFailed(err, "reset");
          return;
        }
        throw err;
      }
      resetToken = "";
      $("reset-password").value = "";
      $("reset-otp").value = "";
      $("reset-otp-field").hidden = true;
      showSignIn(u.username);
      say("Your password is changed, and every session of yours has ended. Sign in with the new password.");
    });
  }

  async function acceptInvitation(ev) {
    ev.preventDefault();
    const password = $("invite-password").value;
    if (!password) {
      fail(new ApiError("BAD_USER_INPUT", "Choose a password."));
      return;
    }
    await busy($("invite-submit"), async () => {
      let u;
      try {
        ({ acceptInvitation: u } = await gql(`mutation AccountAcceptInvitation($input: AcceptInvitationInput!) {
          acceptInvitation(input: $input) { username } }`, { input: { token: inviteToken, password } }));
      } catch (err) {
        if (err instanceof ApiError && err.code === "TOKEN_INVALID") {
          inviteToken = "";
          $("invite-password").value = "";
          linkFailed(err, "invite");
          return;
        }
        throw err;
      }
      inviteToken = "";
      $("invite-password").value = "";
      showSignIn(u.username);
      say("Your password is set. Sign in as " + u.username + " with it.");
    });
  }

  async function verifyEmail(token) {
    showPanel("verify");
    let u;
    try {
      ({ verifyEmail: u } = await gql(`mutation AccountVerifyEmail($input: VerifyEmailInput!) {
        verifyEmail(input: $input) { username email emailVerified } }`, { input: { token } }));
    } catch (err) {
      linkFailed(err, "verify");
      return;
    }
    const done = "The address " + u.email + " is verified.";
    try {
      await loadAccount(); // signed in already: the account view shows the new state
      say(done);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "UNAUTHENTICATED")) throw err;
      showSignIn(u.username);
      say(done + " You can sign in now.");
    }
  }

  // followLink opens the view a mail's link names in the fragment, after removing the
  // fragment from the address bar and the history. It answers false when there is none.
  async function followLink() {
    const params = new URLSearchParams(location.hash.slice(1));
    const view = params.get("view");
    if (!view) return false;
    history.replaceState(null, "", location.pathname + location.search);
    clearMessages();
    const p = (name) => params.get(name) || "";
    switch (view) {
      case "verify":
        await verifyEmail(p("token"));
        return true;
      case "reset":
        resetToken = p("token");
        $("reset-otp-field").hidden = true;
        showPanel("reset");
        return true;
      case "invite":
        inviteToken = p("token");
        showPanel("invite");
        return true;
      case "code":
        $("code-account").value = p("account");
        $("code-email").value = p("email");
        $("code-code").value = p("code");
        $("code-signin-form").hidden = false;
        showPanel("code", "code-code");
        await codeSignIn();
        return true;
      case "linked":
        await loadAccount();
        say("Linked.");
        return true;
      case "sso-error": {
        const code = p("code");
        try { await loadAccount(); } catch (e) { showSignIn(); }
        fail(new ApiError(code, SSO_ERRORS[code] || "The sign-in with the provider failed."));
        return true;
      }
      case "forgot":
        $("forgot-account").value = p("account");
        $("forgot-email").value = p("email");
        showPanel("forgot", "forgot-submit");
        return true;
    }
    return false;
  }

  // --- two-step sign-in ------------------------------------------------------------------
  function showTotp(enabled) {
    const enrolling = !$("totp-enrol").hidden || !$("totp-recovery").hidden;
    $("totp-state").textContent = enabled
      ? "On: signing in with your password also asks for a code from your authenticator app."
      : "Off: your password alone signs you in. Add a code from an authenticator app to it.";
    $("totp-start-form").hidden = enabled || enrolling;
    $("totp-off-form").hidden = !enabled || enrolling;
  }

  function hideTotpSecrets() {
    $("totp-secret").value = "";
    $("totp-uri").value = "";
    $("totp-code").value = "";
    $("totp-enrol").hidden = true;
    $("totp-recovery-codes").replaceChildren();
    $("totp-recovery").hidden = true;
  }

  // --- actions --------------------------------------------------------------------------
  async function signIn(ev) {
    ev.preventDefault();
    await passwordSignIn($("signin-submit"), null);
  }

  // A passkey in place of the one-time code, once the password sign-in asked for one.
  async function otpWithPasskey() {
    cancelConditional();
    const publicKey = await passkeyOptions();
    let cred;
    try {
      cred = await navigator.credentials.get({ publicKey });
    } catch (err) {
      fail(ceremonyFailed(err));
      return;
    }
    await passwordSignIn($("otp-passkey"), credentialJSON(cred));
  }

  async function passwordSignIn(button, passkey) {
    const username = $("username").value, password = $("password").value;
    if (!username || !password) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your username (or email address) and password."));
      return;
    }
    await busy(button, async () => {
      const input = { username, password, name: "account page", mode: "COOKIE" };
      const account = $("account-slug").value.trim();
      if (account) input.account = account;
      if (passkey) input.passkey = passkey;
      else if (!$("otp-field").hidden && $("otp").value) input.otp = $("otp").value.trim();
      try {
        // The token comes back null: it is in the HttpOnly cookie the answer sets.
        await gql(`mutation AccountSignIn($input: CreateSessionUsingUsernameInput!) {
          createSessionUsingUsername(input: $input) { id } }`, { input });
      } catch (err) {
        if (err instanceof ApiError && err.code === "INVALID_CREDENTIALS") {
          $("password").value = "";
          $("password").focus();
        }
        if (err instanceof ApiError && err.code === "OTP_REQUIRED") {
          $("otp-field").hidden = false;
          $("otp-passkey-row").hidden = !passkeysSupported();
          $("otp").focus();
          fail(new ApiError("OTP_REQUIRED", passkey
            ? "That passkey was not accepted: enter the one-time code from your authenticator app, or try another passkey."
            : "Enter the one-time code from your authenticator app, or use one of your passkeys."));
          return;
        }
        throw err;
      }
      $("password").value = "";
      $("otp").value = "";
      $("otp-field").hidden = true;
      await loadAccount();
      say("Signed in."); // the header names the user
    });
  }

  async function createKey(ev) {
    ev.preventDefault();
    await busy($("key-create"), async () => {
      const input = {};
      const name = $("key-name").value.trim();
      if (name) input.name = name;
      const days = $("key-expires").value;
      if (days) input.expiresAt = new Date(Date.now() + Number(days) * 86400e3).toISOString().replace(/\.\d+Z$/, "Z");
      const { createUserKey: k } = await gql(`mutation AccountCreateKey($input: CreateUserKeyInput) {
        createUserKey(input: $input) { id secret } }`, { input });
      $("new-key-id").value = k.id;
      $("new-key-secret").value = k.secret;
      $("new-key").hidden = false;
      $("key-name").value = "";
      await loadAccount();
      say("Key created. Copy its secret now: it is shown only this once.");
      $("new-key").focus();
    });
  }

  async function copySecret() {
    const input = $("new-key-secret");
    try {
      await navigator.clipboard.writeText(input.value);
      say("Secret copied to the clipboard.");
    } catch (e) {
      input.select();
      const ok = document.execCommand && document.execCommand("copy");
      say(ok ? "Secret copied to the clipboard." : "Select the secret and copy it by hand.");
    }
  }

  function dismissSecret() {
    $("new-key-secret").value = "";
    $("new-key-id").value = "";
    $("new-key").hidden = true;
    say("The secret is no longer shown.");
    $("key-name").focus();
  }

  async function deleteKey(k) {
    await gql(`mutation AccountDeleteKey($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, { id: k.id });
    if ($("new-key-id").value === k.id) dismissSecret();
    await loadAccount();
    say("Key " + (k.name || k.id) + " deleted; the sessions made from it have ended.");
  }

  async function revokeSession(s) {
    await gql(`mutation AccountRevokeSession($id: ObjectID!) { deleteSession(input: {sessionId: $id}) { id } }`, { id: s.id });
    await loadAccount();
    say("Session revoked.");
  }

  async function signOutOthers() {
    const { deleteSessions: n } = await gql(`mutation AccountSignOutOthers { deleteSessions(input: {scope: OTHERS}) }`);
    await loadAccount();
    say(n === 1 ? "Signed out 1 other session." : "Signed out " + n + " other sessions.");
  }

  async function changePassword(ev) {
    ev.preventDefault();
    const current = $("current-password").value, next = $("new-password").value;
    if (!current || !next) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your current password and a new one."));
      return;
    }
    await busy($("password-submit"), async () => {
      await gql(`mutation AccountChangePassword($input: ChangePasswordInput!) { changePassword(input: $input) { id } }`,
        { input: { currentPassword: current, newPassword: next } });
      $("current-password").value = "";
      $("new-password").value = "";
      await loadAccount();
      say("Password changed. Your other sessions are signed out.");
    });
  }

  async function startTotp(ev) {
    ev.preventDefault();
    const password = $("totp-password").value;
    if (!password) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your password to set up an authenticator app."));
      return;
    }
    await busy($("totp-start"), async () => {
      const { enableTotp: e } = await gql(`mutation AccountEnableTotp($input: EnableTotpInput!) {
        enableTotp(input: $input) { secret uri } }`, { input: { password } });
      $("totp-password").value = "";
      $("totp-secret").value = e.secret;
      $("totp-uri").value = e.uri;
      $("totp-enrol").hidden = false;
      $("totp-start-form").hidden = true;
      say("Add the secret to your authenticator app, then enter the code it shows.");
      $("totp-code").focus();
    });
  }

  async function confirmTotp(ev) {
    ev.preventDefault();
    const code = $("totp-code").value.trim();
    if (!code) {
      fail(new ApiError("BAD_USER_INPUT", "Enter the code your authenticator app shows."));
      return;
    }
    await busy($("totp-confirm"), async () => {
      const { confirmTotp: c } = await gql(`mutation AccountConfirmTotp($input: ConfirmTotpInput!) {
        confirmTotp(input: $input) { recoveryCodes } }`, { input: { code } });
      hideTotpSecrets();
      const list = $("totp-recovery-codes");
      for (const rc of c.recoveryCodes) {
        const li = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = rc;
        li.appendChild(code);
        list.appendChild(li);
      }
      $("totp-recovery").hidden = false;
      showTotp(true);
      say("Two-step sign-in is on. Save your recovery codes now: they are shown only this once.");
      $("totp-recovery").focus();
    });
  }

  function recoveryCodesSaved() {
    hideTotpSecrets();
    showTotp(true);
    say("The recovery codes are no longer shown.");
  }

  async function disableTotp(ev) {
    ev.preventDefault();
    const password = $("totp-off-password").value;
    if (!password) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your password to turn two-step sign-in off."));
      return;
    }
    await busy($("totp-off"), async () => {
      await gql(`mutation AccountDisableTotp($input: DisableTotpInput!) { disableTotp(input: $input) { user { id } } }`,
        { input: { password } });
      $("totp-off-password").value = "";
      showTotp(false);
      say("Two-step sign-in is off.");
    });
  }

  async function signOut() {
    try {
      await gql(`mutation AccountSignOut { deleteSession { id } }`);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "UNAUTHENTICATED")) throw err;
    }
    showSignIn();
    say("Signed out.");
  }

  // --- start ----------------------------------------------------------------------------
  async function start() {
    $("signin-form").addEventListener("submit", (ev) => { cancelConditional(); signIn(ev); });
    $("passkey-signin").addEventListener("click", () => busy($("passkey-signin"), passkeySignIn));
    $("otp-passkey").addEventListener("click", () => busy(null, otpWithPasskey));
    $("passkey-form").addEventListener("submit", addPasskey);
    $("key-form").addEventListener("submit", createKey);
    $("copy-secret").addEventListener("click", copySecret);
    $("dismiss-secret").addEventListener("click", dismissSecret);
    $("signout").addEventListener("click", () => busy($("signout"), signOut));
    $("signout-others").addEventListener("click", () => busy($("signout-others"), signOutOthers));
    $("password-form").addEventListener("submit", changePassword);
    $("totp-start-form").addEventListener("submit", startTotp);
    $("totp-confirm-form").addEventListener("submit", confirmTotp);
    $("totp-recovery-done").addEventListener("click", recoveryCodesSaved);
    $("totp-off-form").addEventListener("submit", disableTotp);
    $("email-form").addEventListener("submit", changeEmail);
    $("email-resend").addEventListener("click", () => busy($("email-resend"), resendMine));
    $("signup-form").addEventListener("submit", signUp);
    $("forgot-form").addEventListener("submit", (ev) => requestMail(ev, "forgot"));
    $("resend-form").addEventListener("submit", (ev) => requestMail(ev, "resend"));
    $("code-request-form").addEventListener("submit", requestCode);
    $("code-signin-form").addEventListener("submit", codeSignIn);
    $("reset-form").addEventListener("submit", resetPassword);
    $("invite-form").addEventListener("submit", acceptInvitation);
    for (const [button, panel] of [["go-signup", "signup"], ["go-forgot", "forgot"], ["go-code", "code"], ["go-resend", "resend"]]) {
      $(button).addEventListener("click", () => {
        clearMessages();
        // What was typed in the sign-in form is a good guess at the address.
        const typed = $("username").value.trim();
        const email = $(panel + "-email");
        if (typed.includes("@") && !email.value) email.value = typed;
        const account = $("account-slug").value.trim();
        if (account && !$(panel + "-account").value) $(panel + "-account").value = account;
        showPanel(panel);
      });
    }
    for (const b of document.querySelectorAll("button.back")) {
      b.addEventListener("click", () => { clearMessages(); showSignIn(); });
    }
    // A second link opened in this tab changes only the fragment, and so reloads nothing.
    window.addEventListener("hashchange", () => {
      document.documentElement.dataset.ready = "loading";
      busy(null, followLink).finally(() => { document.documentElement.dataset.ready = "true"; });
    });
    try {
      if (await followLink()) return;
    } catch (e) {
      fail(e);
      showSignIn();
      return;
    }
    try {
      await loadAccount(); // a live session cookie from an earlier visit
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "UNAUTHENTICATED")) fail(e);
    }
    showSignIn();
  }
  document.documentElement.dataset.ready = "loading";
  start().finally(() => { document.documentElement.dataset.ready = "true"; });
})();
