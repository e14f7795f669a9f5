package auth

// IsEntity marks User as an entity that other services may extend (federation, in the
// transport's terms): the code the GraphQL layer generates for it keeps entities in a slice
// of an interface with this one method, and cannot be told to use another. The method does
// nothing and needs nothing, so the domain still imports nothing of any transport.
func (*User) IsEntity() {}

// IsEntity marks Account as an entity, as User's does.
func (*Account) IsEntity() {}
