/**
 * The server's field issues are zod's words ("Too small: expected string to have >=1
 * characters"); a person filling a form wants "Required". Known shapes are rewritten,
 * anything else is shown as the server said it.
 */
const rules: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/expected string to have >=1 characters?/i, () => 'Required'],
  [/expected string to have >=(\d+) characters/i, (m) => `At least ${m[1]} characters`],
  [/expected string to have <=(\d+) characters/i, (m) => `At most ${m[1]} characters`],
  [/expected (?:number|int), received (?:null|undefined|NaN|nan)/i, () => 'Enter a number'],
  [/expected (?:number|int), received string/i, () => 'Enter a number'],
  [/expected string, received (?:null|undefined)/i, () => 'Required'],
  [/expected (?:number|int) to be >=?\s?(-?[\d.]+)/i, (m) => `Must be at least ${m[1]}`],
  [/expected (?:number|int) to be >0/i, () => 'Must be more than 0'],
  [/expected (?:number|int) to be <=?\s?(-?[\d.]+)/i, (m) => `Must be at most ${m[1]}`],
  [/expected int, received number/i, () => 'Enter a whole number'],
  [/invalid email/i, () => 'Enter an email address like name@example.com'],
  [/Invalid string: must match pattern/i, () => 'Not in the expected format'],
  [/Unrecognized key/i, () => 'Not a field this form sends'],
];

export function humanIssue(message: string): string {
  for (const [pattern, say] of rules) {
    const m = message.match(pattern);
    if (m) return say(m);
  }
  return message;
}
