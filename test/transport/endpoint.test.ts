import { describe, expect, it } from 'vitest';
import {
  dataDir,
  defaultEndpoint,
  isWindowsPipe,
  unixSocketPathLimit,
} from '../../src/transport/endpoint.js';

describe('defaultEndpoint', () => {
  it('uses /var/run on Linux with the system data dir', () => {
    expect(defaultEndpoint({}, 'linux')).toBe('/var/run/zlayer-overlayd.sock');
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: '' }, 'linux')).toBe('/var/run/zlayer-overlayd.sock');
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: '/var/lib/zlayer/' }, 'linux')).toBe(
      '/var/run/zlayer-overlayd.sock',
    );
  });

  it('uses D/run/ for any other data dir, and on other Unixes', () => {
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: '/srv/zl' }, 'linux')).toBe(
      '/srv/zl/run/zlayer-overlayd.sock',
    );
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: '/srv/zl/' }, 'darwin')).toBe(
      '/srv/zl/run/zlayer-overlayd.sock',
    );
    expect(defaultEndpoint({}, 'darwin')).toBe('/var/lib/zlayer/run/zlayer-overlayd.sock');
  });

  it('uses the named pipe on Windows whatever the data dir', () => {
    expect(defaultEndpoint({}, 'win32')).toBe('\\\\.\\pipe\\zlayer-overlayd');
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: 'C:\\zl' }, 'win32')).toBe(
      '\\\\.\\pipe\\zlayer-overlayd',
    );
  });

  it('falls back to a short /tmp path when D/run/... exceeds sun_path', () => {
    const suffix = '/run/zlayer-overlayd.sock'; // 25 bytes
    // Linux: 107 usable bytes.
    const fitsLinux = `/${'a'.repeat(107 - suffix.length - 1)}`;
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: fitsLinux }, 'linux')).toBe(fitsLinux + suffix);
    const tooLongLinux = `${fitsLinux}b`;
    const fallback = defaultEndpoint({ ZLAYER_DATA_DIR: tooLongLinux }, 'linux');
    expect(fallback).toMatch(/^\/tmp\/zlayer-overlayd-[0-9a-f]{16}\.sock$/);
    // Stable for one dir (trailing slash ignored), distinct between dirs.
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: `${tooLongLinux}/` }, 'linux')).toBe(fallback);
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: `${fitsLinux}c` }, 'linux')).not.toBe(fallback);
    // macOS: 103 usable bytes, so a path that fits Linux may not.
    const dir100 = `/${'a'.repeat(103 - suffix.length - 1)}`;
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: dir100 }, 'darwin')).toBe(dir100 + suffix);
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: `${dir100}x` }, 'darwin')).toMatch(/^\/tmp\//);
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: `${dir100}x` }, 'linux')).toBe(`${dir100}x${suffix}`);
  });

  it('measures the limit in UTF-8 bytes, not characters', () => {
    const suffix = '/run/zlayer-overlayd.sock';
    const dir = `/${'é'.repeat(50)}`; // 101 bytes, 51 characters
    expect(defaultEndpoint({ ZLAYER_DATA_DIR: dir }, 'linux')).toMatch(/^\/tmp\//);
    expect((dir + suffix).length).toBeLessThan(107);
  });

  it('reads process.env and process.platform by default', () => {
    expect(typeof defaultEndpoint()).toBe('string');
    expect(dataDir()).toBe(process.env.ZLAYER_DATA_DIR || '/var/lib/zlayer');
  });

  it('knows the sun_path sizes', () => {
    expect(unixSocketPathLimit('linux')).toBe(108);
    expect(unixSocketPathLimit('darwin')).toBe(104);
    expect(unixSocketPathLimit('freebsd')).toBe(104);
  });
});

describe('isWindowsPipe', () => {
  it.each([
    ['\\\\.\\pipe\\zlayer-overlayd', true],
    ['\\\\?\\pipe\\x', true],
    ['//./pipe/x', true],
    ['\\\\.\\PIPE\\x', true],
    ['\\\\.\\pipe\\', false],
    ['/var/run/zlayer-overlayd.sock', false],
    ['C:\\pipe\\x', false],
    ['', false],
  ])('%s → %s', (path, expected) => {
    expect(isWindowsPipe(path)).toBe(expected);
  });
});
