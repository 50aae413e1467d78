package voucher

// requireRole refuses callers whose role is not one of roles.
func requireRole(caller Identity, action string, roles ...Role) error {
	for _, r := range roles {
		if caller.Role == r {
			return nil
		}
	}
	if caller.Role == "" {
		return errorf(CodeForbidden, "%s: identity %q may only read", action, caller.Name)
	}
	return errorf(CodeForbidden, "%s is not allowed for role %s", action, caller.Role)
}

// canReadAgency reports whether caller may see agency agencyID's data.
// Agencies see only their own; everyone else who passed checkCaller reads
// everything.
func canReadAgency(caller Identity, agencyID string) bool {
	return caller.Role != RoleAgency || caller.AgencyID == agencyID
}
