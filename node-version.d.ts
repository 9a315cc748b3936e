// Types of node-version.js, which stays plain JavaScript so that any Node can load it.
export declare function satisfies (version: string, range: string): boolean
export declare function nodeVersionProblem (version?: string, pkg?: { name: string, engines?: { node?: string } }): string | undefined
