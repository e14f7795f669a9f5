// The account page: sign in, list and manage your keys and sessions, change your password,
// set up two-step sign-in (TOTP), sign out.
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

  // --- views ----------------------------------------------------------------------------
  function showSignIn() {
    $("account").hidden = true;
    $("whoami").hidden = true;
    $("signin").hidden = false;
    $("new-key").hidden = true;
    $("new-key-secret").value = "";
    hideTotpSecrets();
    $("username").focus();
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
      totpEnabled
      account { slug }
      userKeys(first: 1000) { nodes { id name createdAt lastUsedAt expiresAt } }
      sessions(first: 1000) { nodes { id name method clientName clientVersion userAgent ip createdAt lastUsedAt expiresAt current } }
    }
  }`;

  async function loadAccount() {
    const { me } = await gql(ACCOUNT);
    $("signin").hidden = true;
    $("account").hidden = false;
    $("whoami").hidden = false;
    $("current-user").textContent = me.username;
    $("current-account").textContent = me.account && me.account.slug !== "default" ? " (account " + me.account.slug + ")" : "";
    showTotp(me.totpEnabled);

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
    const username = $("username").value, password = $("password").value;
    if (!username || !password) {
      fail(new ApiError("BAD_USER_INPUT", "Enter your username and password."));
      return;
    }
    await busy($("signin-submit"), async () => {
      const input = { username, password, name: "account page", mode: "COOKIE" };
      const account = $("account-slug").value.trim();
      if (account) input.account = account;
      if (!$("otp-field").hidden && $("otp").value) input.otp = $("otp").value.trim();
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
          $("otp").focus();
          fail(new ApiError("OTP_REQUIRED", "Enter the one-time code from your authenticator app."));
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
    $("signin-form").addEventListener("submit", signIn);
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
