/**
 * The common-password list that zxcvbn-ts ships (49k passwords seen most in breaches, kept by
 * the zxcvbn-ts project). Only entries that pass the length rule can matter; they are compared
 * lower-cased, so `Password1` is as refused as `password1`.
 *
 * Loaded by `loadPasswordPolicy()` (the register route awaits it before it validates), not at
 * import: the list is 430 kB of compressed JavaScript that a start would otherwise parse and
 * inflate before the gateway could answer anything.
 */
let common: ReadonlySet<string> | undefined;
let loading: Promise<void> | undefined;

export const MIN_PASSWORD_LENGTH = 8;

export function loadPasswordPolicy(): Promise<void> {
  return (loading ??= import('@zxcvbn-ts/language-common').then(({ dictionary }) => {
    common = new Set(dictionary['passwords-common'].filter((p) => p.length >= MIN_PASSWORD_LENGTH).map((p) => p.toLowerCase()));
  }));
}

const canonical = (s: string) => s.normalize('NFKC').trim().toLowerCase();

/** Throws until `loadPasswordPolicy()` has resolved: a password is never let through unchecked. */
export function isCommonPassword(password: string): boolean {
  if (!common) throw new Error('the password policy is not loaded: await loadPasswordPolicy() first');
  return common.has(canonical(password));
}

/** The address itself, in any case, or its part before the @ when that is long enough to be a password. */
export function isEmailLike(password: string, email: string): boolean {
  const p = canonical(password);
  const e = canonical(email);
  const local = e.split('@')[0] ?? '';
  return p === e || (local.length >= MIN_PASSWORD_LENGTH && p === local);
}
