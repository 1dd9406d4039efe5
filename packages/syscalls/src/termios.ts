// <termios.h>: terminal modes and window size. https://man7.org/linux/man-pages/man3/termios.3.html
// struct termios is kept opaque (a Buffer of glibc's layout): a runtime only saves a
// terminal's modes, makes a raw copy with cfmakeraw, and puts the saved ones back.
import { check } from './errno';
import { TIOCGWINSZ, TIOCSWINSZ, ioctl } from './ioctl';
import { declare } from './libc';

/** When tcsetattr applies a change. */
export const SetAttrActions = {
  /** At once. */
  TCSANOW: 0,
  /** Once the output written so far has been sent. */
  TCSADRAIN: 1,
  /** Once the output has been sent, discarding input not yet read. */
  TCSAFLUSH: 2,
} as const;
export const { TCSANOW, TCSADRAIN, TCSAFLUSH } = SetAttrActions;

/** sizeof(struct termios) in glibc on Linux: four tcflag_t, c_line, c_cc[32], two speed_t. */
export const SIZEOF_TERMIOS = 60;

const tcgetattr_ = declare('int tcgetattr(int fd, _Out_ uint8_t *termios)');
const tcsetattr_ = declare('int tcsetattr(int fd, int action, const uint8_t *termios)');
const cfmakeraw_ = declare('void cfmakeraw(_Inout_ uint8_t *termios)');

/** The modes of the terminal `fd` is open on, as struct termios bytes. https://man7.org/linux/man-pages/man3/tcgetattr.3.html */
export function tcgetattr(fd: number): Buffer {
  const termios = Buffer.alloc(SIZEOF_TERMIOS);
  check(tcgetattr_(fd, termios), 'tcgetattr');
  return termios;
}

/** Sets the modes of the terminal `fd` is open on. https://man7.org/linux/man-pages/man3/tcsetattr.3.html */
export function tcsetattr(fd: number, action: number, termios: Buffer): void {
  check(tcsetattr_(fd, action, termios), 'tcsetattr');
}

/**
 * A raw copy of `termios` (the original is left as it was): no echo, no line editing,
 * no signals from keys, no output processing, 8-bit bytes, one byte at a time.
 * https://man7.org/linux/man-pages/man3/cfmakeraw.3.html
 */
export function cfmakeraw(termios: Buffer): Buffer {
  const raw = Buffer.from(termios);
  cfmakeraw_(raw);
  return raw;
}

/** struct winsize: a terminal's size in characters (and in pixels, which few set). */
export interface Winsize {
  readonly ws_row: number;
  readonly ws_col: number;
  readonly ws_xpixel?: number;
  readonly ws_ypixel?: number;
}

/**
 * The window size of the terminal `fd` is open on (ioctl TIOCGWINSZ); POSIX.1-2024
 * names it tcgetwinsize, as musl and the BSDs do (glibc has no wrapper).
 */
export function tcgetwinsize(fd: number): Required<Winsize> {
  const winsize = Buffer.alloc(8); // four unsigned shorts
  ioctl(fd, TIOCGWINSZ, winsize);
  return {
    ws_row: winsize.readUInt16LE(0),
    ws_col: winsize.readUInt16LE(2),
    ws_xpixel: winsize.readUInt16LE(4),
    ws_ypixel: winsize.readUInt16LE(6),
  };
}

/** Sets the window size of the terminal `fd` is open on (ioctl TIOCSWINSZ); its foreground process group gets SIGWINCH. */
export function tcsetwinsize(fd: number, { ws_row, ws_col, ws_xpixel = 0, ws_ypixel = 0 }: Winsize): void {
  const winsize = Buffer.alloc(8);
  winsize.writeUInt16LE(ws_row, 0);
  winsize.writeUInt16LE(ws_col, 2);
  winsize.writeUInt16LE(ws_xpixel, 4);
  winsize.writeUInt16LE(ws_ypixel, 6);
  ioctl(fd, TIOCSWINSZ, winsize);
}
