/** The simulated gateway's test cards and what each does. */
export const testCards = [
  { number: '4242424242424242', label: 'Approves', outcome: 'approved' },
  { number: '4000000000000002', label: 'Declines', outcome: 'declined' },
  { number: '4000000000009995', label: 'Insufficient funds', outcome: 'insufficient-funds' },
  { number: '4000000000000119', label: 'Fails twice, then approves', outcome: 'transient' },
  { number: '4000000000000259', label: 'Never answers (times out)', outcome: 'timeout' },
  { number: '4000000000000341', label: 'Provider unreachable (dead-lettered)', outcome: 'dead-lettered' },
] as const;

export function groupCard(n: string): string {
  return n.replace(/(\d{4})(?=\d)/g, '$1 ');
}
