// What the command line asks of stage 9: what becomes of the container's layer (its
// changes to the image) when it ends. Docker's names: --rm removes it; here that is the
// default, as a container's changes to a tutorial's image are rarely worth keeping.
import { CliError, ExitStatus, type OptionSpec } from '@samples/runtime';

/** The options, as stage 9 has them. */
export const layerOptions = {
  rm: { description: "remove the container's layer (what it changed) when it ends: the default" },
  keep: { description: "keep the container's layer when it ends, and say where it is and how to remove it" },
} satisfies Record<string, OptionSpec>;

/** Whether to keep the container's layer; --rm and --keep together are refused, in one line. */
export function parseLayerOptions(options: { readonly rm: boolean; readonly keep: boolean }): { readonly keep: boolean } {
  if (options.rm && options.keep) throw new CliError('--rm and --keep ask for opposite things: give one (--rm is the default)', ExitStatus.USAGE);
  return { keep: options.keep };
}
