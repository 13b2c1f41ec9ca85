import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * The common-password list that zxcvbn-ts ships (49k passwords seen most in breaches, kept by
 * the zxcvbn-ts project). Only entries that pass the length rule can matter; they are compared
 * lower-cased, so `Password1` is as refused as `password1`.
 */
let common: ReadonlySet<string> | undefined;
const commonPasswords = () =>
  (common ??= new Set(dictionary['passwords-common'].filter((p) => p.length >= MIN_PASSWORD_LENGTH).map((p) => p.toLowerCase())));

export const MIN_PASSWORD_LENGTH = 8;

const canonical = (s: string) => s.normalize('NFKC').trim().toLowerCase();

export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(canonical(password));
}

/** The address itself, in any case, or its part before the @ when that is long enough to be a password. */
export function isEmailLike(password: string, email: string): boolean {
  const p = canonical(password);
  const e = canonical(email);
  const local = e.split('@')[0] ?? '';
  return p === e || (local.length >= MIN_PASSWORD_LENGTH && p === local);
}
