// The overlay's mount options and the overlayfs check, without mounting anything.
import test from 'ava';
import { type ContainerLayer, overlayOptions, requireOverlayfs } from '../src/overlay';

const layer = (count: number): ContainerLayer => ({
  id: 'test',
  dir: '/x',
  upper: '/x/upper',
  work: '/x/work',
  merged: '/x/merged',
  lowers: Array.from({ length: count }, (_, index) => `/somewhere/rootfs/layers/sha256/${String(index).padStart(64, '0')}/diff`),
  keep: false,
});

test('lowerdir lists the short links, top first; upper and work are relative to the folder', (t) => {
  t.is(overlayOptions(layer(3)), 'lowerdir=lower/0:lower/1:lower/2,upperdir=upper,workdir=work');
});

test('400 layers fit the page mount(2) copies; 420 do not, and say so in one line', (t) => {
  t.true(overlayOptions(layer(400)).length < 4096);
  t.throws(() => overlayOptions(layer(420)), {
    message: 'the image has 420 layers, more than one overlay mount can list: flatten it (docker export), then import that',
  });
});

test('overlayfs is found in /proc/filesystems by its line, not by a name that contains it', (t) => {
  t.notThrows(() => requireOverlayfs('nodev\tproc\nnodev\toverlay\n'));
  t.throws(() => requireOverlayfs('nodev\tproc\nnodev\tfuse.overlayfs\n'), { message: /^this kernel has no overlayfs/ });
});
