package httpapi

import "github.com/authgraph/authgraph/internal/ratelimit"

// AnonymousWrite is one thing a client without a session can ask for, what it may write,
// and the rate limit rules that bound how often one address can make it write.
type AnonymousWrite struct {
	// Entry is the entry point: "Mutation.<field>" or "Query.<field>" for a public field
	// of the schema, "APQ lookup" / "APQ registration" for the persisted query protocol
	// on POST or GET /graphql, or "POST /introspect" for token introspection (and its
	// auth_request variant, which counts the same rule).
	Entry string
	// Writes says what is written and where; "" when nothing is (a read).
	Writes string
	// Rules are the ratelimit rules counted before anything is written. Every entry that
	// writes has at least one.
	Rules []string
}

// AnonymousWrites lists every store write (Redis, or the embedded store) and every document
// kept on a client's behalf that an anonymous client can cause. Every bucket a rule keeps is
// itself a small write (one key per rule and address or account, expiring once refilled),
// bounded by the number of addresses and accounts. Caches that every request fills alike
// and that are bounded by size alone, not per client, are not listed: the parsed query cache
// (entries and the size of each, smallDocs) and the session cache (authenticated requests).
// A request with a service key (x-api-key) writes nothing when the key is unknown or
// malformed; one refused although it exists (expired, disabled, an old secret) is recorded in
// its account's audit trail at most once per key and minute per replica, which the keys that
// exist bound, not the client.
//
// TestAnonymousWritesAreListed fails when the schema gains a public field without an entry
// here, or an entry names a rule that does not exist; TestAnonymousFloodsStayBounded floods
// each entry over HTTP on a real Redis and checks what it left there.
var AnonymousWrites = []AnonymousWrite{
	{
		Entry: "Query.version",
	},
	{
		// Federation: the schema, for a router to compose.
		Entry: "Query._service",
	},
	{
		// Federation: without a session every entity is null and the store is not read.
		Entry: "Query._entities",
	},
	{
		Entry: "Mutation.createSessionUsingUsername",
		Writes: "failure buckets of the address and account; with the right password: a session (and " +
			"a refresh token family when asked), the user's rehashed password, the used TOTP step " +
			"or recovery code",
		Rules: []string{ratelimit.RuleLoginIP, ratelimit.RuleLoginIPAccount, ratelimit.RuleLoginAccount, ratelimit.RuleTOTPAccount},
	},
	{
		Entry: "Mutation.createSessionUsingUserKey",
		Writes: "failure buckets of the address and key; with the right secret: a session (and a " +
			"refresh token family when asked), the key's lastUsedAt",
		Rules: []string{ratelimit.RuleLoginIP, ratelimit.RuleLoginIPAccount, ratelimit.RuleLoginAccount},
	},
	{
		Entry:  "Mutation.createSessionUsingExternalToken",
		Writes: "the address's bucket; with a token the provider signed: a session",
		Rules:  []string{ratelimit.RuleExternalIP},
	},
	{
		Entry:  "Mutation.beginPasskeySignIn",
		Writes: "the address's bucket; a sign-in ceremony (challenge and state, about 500 bytes) for 5 minutes",
		Rules:  []string{ratelimit.RulePasskeyIP},
	},
	{
		Entry: "Mutation.createSessionUsingPasskey",
		Writes: "the address's bucket; it takes (deletes) the ceremony its challenge names; with a valid " +
			"assertion: a session (and a refresh token family when asked), the passkey's counter and lastUsedAt; " +
			"with a counter that went backwards: the passkey's cloneSuspectedAt",
		Rules: []string{ratelimit.RulePasskeyIP},
	},
	{
		Entry:  "Mutation.refreshSession",
		Writes: "the address's bucket; with a live refresh token: the rotated family and a new session",
		Rules:  []string{ratelimit.RuleRefreshIP},
	},
	{
		Entry: "Mutation.signUp",
		Writes: "the address's and the recipient's buckets; when the account's policy is OPEN: a user with " +
			"an unverified email, a verification token, and one message on the mail queue",
		Rules: []string{ratelimit.RuleSignUpIP, ratelimit.RuleMailTo},
	},
	{
		Entry:  "Mutation.requestPasswordReset",
		Writes: "the address's and the recipient's buckets, one message on the mail queue (and its sent marker)",
		Rules:  []string{ratelimit.RuleMailIP, ratelimit.RuleMailTo},
	},
	{
		Entry:  "Mutation.requestSignInCode",
		Writes: "the address's and the recipient's buckets, one message on the mail queue (and its sent marker)",
		Rules:  []string{ratelimit.RuleMailIP, ratelimit.RuleMailTo},
	},
	{
		Entry:  "Mutation.requestEmailVerification",
		Writes: "the address's and the recipient's buckets, one message on the mail queue (and its sent marker)",
		Rules:  []string{ratelimit.RuleMailIP, ratelimit.RuleMailTo},
	},
	{
		Entry:  "Mutation.verifyEmail",
		Writes: "the address's bucket; with a live token: the user's verified address",
		Rules:  []string{ratelimit.RuleEmailTokenIP},
	},
	{
		Entry:  "Mutation.resetPassword",
		Writes: "the address's bucket; with a live token: the user's password, and a notice on the mail queue",
		Rules:  []string{ratelimit.RuleEmailTokenIP},
	},
	{
		Entry:  "Mutation.acceptInvitation",
		Writes: "the address's bucket; with a live token: the invited user's password",
		Rules:  []string{ratelimit.RuleEmailTokenIP},
	},
	{
		Entry: "Mutation.createSessionUsingEmailCode",
		Writes: "failure buckets of the address and the email address, the tries of a user's live code; with " +
			"the right code: a session",
		Rules: []string{ratelimit.RuleLoginIP, ratelimit.RuleLoginIPAccount, ratelimit.RuleLoginAccount, ratelimit.RuleEmailCodeID},
	},
	{
		Entry:  "APQ lookup",
		Writes: "the address's bucket (the lookup itself writes nothing)",
		Rules:  []string{ratelimit.RuleAPQLookupIP},
	},
	{
		Entry: "APQ registration",
		Writes: "the document, in this replica's in-process cache (AUTHGRAPH_APQ_CACHE_BYTES, never " +
			"Redis), and the address's bucket",
		Rules: []string{ratelimit.RuleAPQRegisterIP},
	},
	{
		Entry: "Query.signInProviders",
	},
	{
		Entry: "Mutation.createSessionUsingAuthorizationCode",
		Writes: "the address's bucket; consumes (deletes) the one-time code it names, if authgraph's; with a " +
			"code the provider redeems for an identity linked here (or linkable by a trusted verified email), " +
			"or a live one-time code with its verifier: the link, and a session; for a provider that " +
			"provisions, in an account whose sign-up is OPEN: the sign-up buckets and a user",
		Rules: []string{ratelimit.RuleSSOIP, ratelimit.RuleSignUpIP},
	},
	{
		Entry: "GET /auth/{provider}/start",
		Writes: "the address's bucket, and one authorization code flow (state, nonce, PKCE verifier; for an app, " +
			"its redirect URI, state and challenge) that expires in 10 minutes",
		Rules: []string{ratelimit.RuleSSOIP},
	},
	{
		Entry: "GET /auth/{provider}/callback",
		Writes: "the address's bucket; consumes (deletes) the flow its state names; with a code the " +
			"provider redeems for a linked identity: a session, or for a flow an app started a one-time " +
			"code (about 200 bytes, one minute); for a provider that provisions, in an account whose " +
			"sign-up is OPEN: the sign-up buckets and a user",
		Rules: []string{ratelimit.RuleSSOIP, ratelimit.RuleSignUpIP},
	},
	{
		Entry:  "POST /introspect",
		Writes: "the address's bucket, counted before the caller is authenticated (introspection itself writes nothing)",
		Rules:  []string{ratelimit.RuleIntrospectIP},
	},
}
