/**
 * A string shaped like an OpenAI key, made at run time: the redaction tests need one, and a literal of that
 * shape in the tree reads as a leaked key to every secret scanner (these are not keys of anything).
 */
export const keyShaped = (body: string): string => ['sk', body].join('-')
