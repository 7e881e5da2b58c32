/** A usage error: the command line prints its message and exits 2. */
export class CliError extends Error {}
