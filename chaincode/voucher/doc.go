// Package voucher is the domain core of Hongshan: the rules of the
// 红山科技创新券 programme (clause 三（九） of Urumqi's 2023–2025 high-tech
// enterprise action plan) as a deterministic contract.
//
// It knows nothing of Fabric, HTTP or bbolt. A ledger implements Context;
// Contract.Invoke runs one transaction against it. The invariants every
// transaction keeps:
//   - an agency's live vouchers in a period never exceed the cap;
//   - a certificate backs at most one live voucher;
//   - a voucher's status moves only along DOMAIN.md's diagram (CanTransition);
//   - identity comes from the ledger, never from an argument.
package voucher
