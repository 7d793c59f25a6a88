/**
 * @internal Can every checkpoint adapter store this string unchanged? No NUL character and no unpaired
 * UTF-16 surrogate: PostgreSQL rejects both, so a string that works on the in-memory store must avoid
 * them to work on the others too.
 */
export const isPortableString = (s: string): boolean => !s.includes('\u0000') && !LONE_SURROGATE.test(s)

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
