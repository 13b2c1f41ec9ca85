import { describe, expect, it } from 'vitest';
import { humanIssue } from './messages';

describe('humanIssue', () => {
  it('turns zod wording into what a person filling a form understands', () => {
    expect(humanIssue('Too small: expected string to have >=1 characters')).toBe('Required');
    expect(humanIssue('Invalid input: expected number, received null')).toBe('Enter a number');
    expect(humanIssue('Too big: expected string to have <=3 characters')).toBe('At most 3 characters');
    expect(humanIssue('Too small: expected number to be >=0')).toBe('Must be at least 0');
  });
  it('keeps a message it does not know, and the domain’s own words', () => {
    expect(humanIssue('mixed currencies: EUR, USD')).toBe('mixed currencies: EUR, USD');
    expect(humanIssue('upper-case letters, digits, dashes')).toBe('upper-case letters, digits, dashes');
  });
});
