// A small image to import and run, written as `docker save` writes one (Docker before
// 25: manifest.json, the config as <hex>.json, each layer as <id>/layer.tar), for a
// machine without Docker:
//
//   node --require tsx/cjs packages/9-isolate-image/scripts/example-image.ts FILE
//
// Two layers: the default root filesystem, and a "greeter" app on top that also deletes
// a file of the first (a whiteout, etc/.wh.issue). Its config names the app as the
// default command, in its folder, with a variable of its own. With Docker the same
// steps are `docker build` and `docker save`.
import fs from 'node:fs';
import path from 'node:path';
import { buildDefaultRootfs } from '@samples/rootfs';
import { layerFromFolder, layerOf, tarEntry, writeDockerSave } from '@samples/rootfs/testing';

const [file] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: node --require tsx/cjs packages/9-isolate-image/scripts/example-image.ts FILE\n');
  process.exit(2);
}

// The same bytes each time: its layer, and so its digest, does not change between runs.
const mtime = new Date('2026-01-01T00:00:00Z');
const folder = (name: string) => tarEntry({ path: `${name}/`, type: 'Directory', mode: 0o755, mtime });
const script = `#!/bin/sh
echo "$GREETING, from $(pwd)"
ls /etc/issue 2>/dev/null || echo "(no /etc/issue: the top layer deleted it)"
`;

async function main(): Promise<void> {
  // Built afresh (a second or so), not taken from rootfs/images/default, which stages 3
  // to 8 write into; with an /etc/issue, for the top layer to delete.
  const work = fs.mkdtempSync(path.join(path.dirname(path.resolve(file!)), '.example-image-'));
  try {
    const tree = path.join(work, 'tree');
    buildDefaultRootfs(tree);
    fs.writeFileSync(path.join(tree, 'etc/issue'), 'Default root filesystem\n');
    const bottom = await layerFromFolder(tree);
    const top = layerOf([
      folder('etc'),
      tarEntry({ path: 'etc/.wh.issue', mtime }),
      folder('srv'),
      folder('srv/greeter'),
      tarEntry({ path: 'srv/greeter/greet.sh', mode: 0o755, mtime }, script),
    ]);
    writeDockerSave(
      file!,
      {
        layers: [bottom, top],
        compression: 'none',
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello from the greeter image'],
          Cmd: ['./greet.sh'],
          WorkingDir: '/srv/greeter',
        },
      },
      'greeter:latest',
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`example-image: ${error.message}\n`);
  process.exit(125);
});
