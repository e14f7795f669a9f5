// The account page: sign in, list and manage your keys and sessions, sign out.
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
    $("username").focus();
  }

  const fmt = (s) => (s ? new Date(s).toLocaleString() : "never");

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
      userKeys(first: 1000) { nodes { id name createdAt lastUsedAt expiresAt } }
      sessions(first: 1000) { nodes { id name method clientName clientVersion ip createdAt expiresAt current } }
    }
  }`;

  async function loadAccount() {
    const { me } = await gql(ACCOUNT);
    $("signin").hidden = true;
    $("account").hidden = false;
    $("whoami").hidden = false;
    $("current-user").textContent = me.username;

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
      actionButton(tr, "Revoke", "Revoke key " + (k.name || k.id), () => revokeKey(k));
      keys.appendChild(tr);
    }
    $("no-keys").hidden = me.userKeys.nodes.length > 0;
    $("keys-table").hidden = me.userKeys.nodes.length === 0;

    const sessions = $("sessions-table").tBodies[0];
    sessions.replaceChildren();
    for (const s of me.sessions.nodes) {
      const tr = document.createElement("tr");
      tr.dataset.sessionId = s.id;
      const name = cell(tr, s.name || "(no name)");
      if (s.current) {
        tr.className = "current";
        name.append(" (this page)");
      }
      cell(tr, s.method === "USER_KEY" ? "user key" : s.method.toLowerCase());
      cell(tr, [s.clientName, s.clientVersion].filter(Boolean).join(" ") || "-");
      cell(tr, s.ip || "-");
      cell(tr, fmt(s.createdAt));
      cell(tr, fmt(s.expiresAt));
      if (s.current) {
        actionButton(tr, "Sign out", "Sign out of this session", () => signOut());
      } else {
        actionButton(tr, "Revoke", "Revoke session " + (s.name || s.id), () => revokeSession(s));
      }
      sessions.appendChild(tr);
    }
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
      say("Signed in as " + username + ".");
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

  async function revokeKey(k) {
    await gql(`mutation AccountRevokeKey($id: ObjectID!) { deleteUserKey(input: {userKeyId: $id}) { userKey { id } } }`, { id: k.id });
    if ($("new-key-id").value === k.id) dismissSecret();
    await loadAccount();
    say("Key " + (k.name || k.id) + " revoked; the sessions made from it have ended.");
  }

  async function revokeSession(s) {
    await gql(`mutation AccountRevokeSession($id: ObjectID!) { deleteSession(input: {sessionId: $id}) { id } }`, { id: s.id });
    await loadAccount();
    say("Session " + (s.name || s.id) + " ended.");
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
