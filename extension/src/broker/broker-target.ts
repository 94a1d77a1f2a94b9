/**
 * Which broker the extension talks to, and the URL with its password put back from SecretStorage.
 * The order is the runtime's (resolveConfig), with the `sprig.brokerUrl` setting in the place of
 * `--broker`: the setting > SPRIG_BROKER_URL > sprig.config (never read in an untrusted workspace)
 * > the embedded `sprig://`. The setting never holds a password.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from '../settings.js';
import { runtime } from '../runtime.js';

const SECRET_PREFIX = 'sprig.brokerPassword:';

export interface BrokerTarget {
  /** Full URL, password included: never shown, never written to settings or logs. */
  url: string;
  /** Password redacted. */
  displayUrl: string;
  projectDir: string;
  /** `sprig://` with no host: the project's embedded broker (discovered or started). */
  embedded: boolean;
  /** True when the URL came from the `sprig.brokerUrl` setting (workers then get it by env). */
  fromSetting: boolean;
  /** Whether the project's sprig.config.* may be read (false in an untrusted workspace): the hub's App is told the same. */
  configFile: boolean;
}

/** `sprig://` with no host: the project's own embedded broker. */
export function isEmbeddedUrl(url: string): boolean {
  return /^sprig:\/\/(\?|$)/i.test(url);
}

/** `redis://u:pw@h/0` → { url: 'redis://u@h/0', password: 'pw' }. */
export function splitPassword(url: string): { url: string; password?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  if (!u.password) return { url };
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { url: u.toString().replace(/\/$/, url.endsWith('/') ? '/' : ''), password };
}

export function withPassword(url: string, password: string | undefined): string {
  if (!password) return url;
  try {
    const u = new URL(url);
    if (!u.username) u.username = '';
    u.password = encodeURIComponent(password);
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    return url;
  }
}

export function secretKey(urlWithoutPassword: string): string {
  return SECRET_PREFIX + urlWithoutPassword;
}

/** The workspace folder whose `.sprig/` holds the embedded broker. */
export function defaultProjectDir(hint?: string): string {
  const folder = (hint ? vscode.workspace.getWorkspaceFolder(vscode.Uri.file(hint)) : undefined) ?? vscode.workspace.workspaceFolders?.[0];
  const from = hint ? path.dirname(hint) : folder?.uri.fsPath ?? process.cwd();
  // The nearest folder with sprig.config.*, .sprig/ or package.json, but never above the workspace.
  const found = runtime().findProjectDir(from);
  if (folder && !isInside(folder.uri.fsPath, found)) return folder.uri.fsPath;
  return found;
}

/**
 * `dir` is `root` or below it. Not a string prefix: `/ws/app2` is not in `/ws/app`, and on Windows
 * `c:\ws` and `C:\WS` are the same folder (path.relative knows both).
 */
function isInside(root: string, dir: string): boolean {
  const rel = path.relative(root, dir);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

export async function resolveBrokerTarget(secrets: vscode.SecretStorage, hint?: string): Promise<BrokerTarget> {
  const projectDir = defaultProjectDir(hint);
  const setting = readSettings().brokerUrl;
  const brokerUrl = setting ? withPassword(setting, await secrets.get(secretKey(setting))) : undefined;
  // Loading sprig.config.ts runs the workspace's code: not in a workspace VS Code does not trust.
  const configFile = vscode.workspace.isTrusted;
  const c = await runtime().resolveConfig({ projectDir, brokerUrl }, projectDir, { configFile });
  const url = c.brokerUrl!;
  return {
    url,
    displayUrl: runtime().redactUrl(url),
    projectDir,
    embedded: isEmbeddedUrl(url),
    fromSetting: !!setting,
    configFile,
  };
}
