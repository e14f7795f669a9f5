package auth

// The emailed-token helpers are the service's own, for the flows that send mail; the tests
// of package auth_test reach them through these.
var (
	IssueEmailToken   = (*Service).issueEmailToken
	ConsumeEmailToken = (*Service).consumeEmailToken
	IssueEmailCode    = (*Service).issueEmailCode
	ConsumeEmailCode  = (*Service).consumeEmailCode

	IssueEmailVerification = (*Service).issueEmailVerification
	IssueEmailChange       = (*Service).issueEmailChange
	IssuePasswordReset     = (*Service).issuePasswordReset
)
