import Docker from 'dockerode';
import { ShopctlError, messageOf } from '../errors.js';
import { ExitCode } from '../exit-codes.js';

/** The newest Engine API shopctl relies on (Docker Engine 20.10). Nothing newer is ever needed. */
export const ENGINE_API_VERSION = '1.41';

export type { Docker };

export interface EngineInfo {
  serverVersion: string;
  apiVersion: string;
  /** The API version shopctl speaks to this engine. */
  usedApiVersion: string;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i += 1) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Chooses the API version: 1.41 pinned, unless the engine no longer accepts it (Docker 29
 * raised its minimum to 1.44), then the engine's minimum: shopctl uses only calls that 1.41
 * already had, and those keep their shape in later versions.
 */
export function chooseApiVersion(engineApi: string, engineMinApi: string | undefined): string {
  if (compareVersions(engineApi, ENGINE_API_VERSION) < 0) {
    throw new ShopctlError(`Docker Engine API ${engineApi} is older than ${ENGINE_API_VERSION} (Docker Engine 20.10)`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: 'Upgrade Docker Engine to 20.10 or newer.',
    });
  }
  if (engineMinApi && compareVersions(engineMinApi, ENGINE_API_VERSION) > 0) return engineMinApi;
  return ENGINE_API_VERSION;
}

function where(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** Connects (DOCKER_HOST or the local socket), checks the engine answers, and pins the API version. */
export async function connectDocker(): Promise<{ docker: Docker; engine: EngineInfo }> {
  const probe = new Docker({ timeout: 10_000 } as Docker.DockerOptions);
  let version: Docker.DockerVersion;
  try {
    version = await probe.version();
  } catch (error) {
    const msg = messageOf(error);
    throw new ShopctlError(`Docker Engine not reachable at ${where()}: ${msg}`, {
      exitCode: ExitCode.PREFLIGHT,
      hint: /EACCES/.test(msg)
        ? 'Permission denied on the socket: run as a user in the docker group, or with sudo.'
        : 'Is dockerd running? (systemctl status docker); is DOCKER_HOST right?',
    });
  }
  const minApi = (version as Docker.DockerVersion & { MinAPIVersion?: string }).MinAPIVersion;
  const usedApiVersion = chooseApiVersion(version.ApiVersion, minApi);
  const docker = new Docker({ version: `v${usedApiVersion}` });
  return { docker, engine: { serverVersion: version.Version, apiVersion: version.ApiVersion, usedApiVersion } };
}
