/**
 * "Sprig: Select Broker": embedded, a Redis, AMQP or PostgreSQL URL, tested before it is saved. The
 * password goes to SecretStorage; the `sprig.brokerUrl` setting keeps the URL without it.
 */
import * as vscode from 'vscode';
import type { Sprig } from '../sprig.js';
import { runtime } from '../runtime.js';
import { defaultProjectDir, isEmbeddedUrl, secretKey, splitPassword } from './broker-target.js';
import { ensureEmbeddedBroker } from './embedded.js';
import { URL_BROKERS, validateBrokerUrl } from './broker-choices.js';

export interface SelectBrokerResult {
  url: string;
  ok: boolean;
  error?: string;
}

/** Connect, then close: ok or the reason. */
export async function testConnection(url: string, timeoutMs = 5000): Promise<{ ok: boolean; error?: string }> {
  const projectDir = defaultProjectDir();
  try {
    if (isEmbeddedUrl(url)) await ensureEmbeddedBroker(projectDir);
    const broker = await runtime().createBroker(url, { projectDir, noAutostart: true, publishTimeoutMs: timeoutMs });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        broker.connect(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs))),
      ]);
      await broker.queueLength('celery');
    } finally {
      clearTimeout(timer);
      await broker.close().catch(() => undefined);
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/**
 * `preset` (tests, other extensions): the URL, whether to save it, and what to do with the workers
 * still running on the old broker (`restartWorkers`; not given: ask, as the palette does).
 */
export type SelectBrokerPreset = string | { url: string; save?: boolean; restartWorkers?: boolean };

export async function selectBroker(sprig: Sprig, preset?: SelectBrokerPreset): Promise<SelectBrokerResult | undefined> {
  let url = typeof preset === 'string' ? preset : preset?.url;
  const interactive = url === undefined;
  if (url === undefined) {
    const pick = await vscode.window.showQuickPick(
      [
        { label: '$(server-process) Embedded broker', description: 'sprig:// — a broker process for this project, nothing to install', choice: 'embedded' },
        ...URL_BROKERS.map((b) => ({ label: b.label, description: b.description, choice: b.choice })),
        { label: '$(discard) Clear the setting', description: 'use SPRIG_BROKER_URL or sprig.config, else the embedded broker', choice: 'clear' },
      ],
      { title: 'Select Sprig Broker' },
    );
    if (!pick) return undefined;
    if (pick.choice === 'embedded') url = 'sprig://';
    else if (pick.choice === 'clear') url = '';
    else {
      const b = URL_BROKERS.find((x) => x.choice === pick.choice)!;
      const v = await vscode.window.showInputBox({
        title: `Select Sprig Broker: ${b.name} URL`,
        prompt: 'The password, if any, is kept in the secret storage, not in settings',
        value: b.value,
        validateInput: (x) => validateBrokerUrl(b, x),
        ignoreFocusOut: true,
      });
      if (!v) return undefined;
      url = v.trim();
      if (!splitPassword(url).password) {
        const pw = await vscode.window.showInputBox({ title: 'Broker password (leave empty for none)', password: true, ignoreFocusOut: true });
        if (pw === undefined) return undefined;
        if (pw) {
          const u = new URL(url);
          u.password = encodeURIComponent(pw);
          url = u.toString();
        }
      }
    }
  }
  const { url: bare, password } = splitPassword(url);
  let result: SelectBrokerResult = { url: bare, ok: true };
  if (url) {
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Sprig: testing ${runtime().redactUrl(url)}…` },
      () => testConnection(url!),
    );
    result = { url: bare, ...r };
    if (!r.ok && interactive) {
      const go = await vscode.window.showWarningMessage(`Cannot connect to ${runtime().redactUrl(url)}: ${r.error}`, { modal: true }, 'Save Anyway');
      if (go !== 'Save Anyway') return result;
    }
  }
  if (typeof preset === 'object' && preset.save === false) return result;
  if (password) await sprig.context.secrets.store(secretKey(bare), password);
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration('sprig').update('brokerUrl', bare || undefined, target);
  const restart = typeof preset === 'object' ? preset.restartWorkers : undefined;
  // The setting's change event asks too: the broker already applied is not asked about twice.
  await sprig.brokerChanged(restart === undefined ? 'ask' : restart ? 'restart' : 'leave');
  if (interactive && result.ok) void vscode.window.showInformationMessage(`Sprig broker: ${bare ? runtime().redactUrl(bare) : 'from sprig.config / environment / embedded'}${url ? ' (connected)' : ''}.`);
  return result;
}
