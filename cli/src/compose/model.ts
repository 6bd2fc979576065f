import { parse } from 'yaml';

/** The parts of a Compose model shopctl reads. Everything else is Compose's business. */
export interface ComposeModel {
  services: Map<string, ServiceModel>;
  /** Top-level `secrets:` with their `file:` (relative to the project directory as written). */
  secrets: Map<string, { file?: string | undefined }>;
  /** Top-level `volumes:` and the `name:` Compose gives them when the file (or `compose config`) says. */
  volumes: Map<string, { name?: string | undefined }>;
}

export interface ServiceModel {
  name: string;
  image?: string | undefined;
  hasBuild: boolean;
  profiles: string[];
  hasHealthcheck: boolean;
  secrets: string[];
  /** `deploy.replicas` (or the legacy `scale`), when the file sets it. */
  replicas?: number | undefined;
  /** `restart:` policy ("no" marks one-shot helpers that exit 0 by design). */
  restart?: string | undefined;
  /** `deploy.placement.constraints` (swarm only; Compose ignores them). */
  constraints: string[];
  /** Host paths bind-mounted into the service, as the resolved model writes them. */
  bindSources: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads YAML from a compose file or from `compose config`; throws with the YAML error otherwise. */
export function parseComposeModel(text: string): ComposeModel {
  const doc: unknown = parse(text);
  if (!isRecord(doc)) throw new Error('not a Compose file: the top level is not a mapping');
  const services = new Map<string, ServiceModel>();
  if (isRecord(doc.services)) {
    for (const [name, raw] of Object.entries(doc.services)) {
      const s = isRecord(raw) ? raw : {};
      const hc = s.healthcheck;
      services.set(name, {
        name,
        image: typeof s.image === 'string' ? s.image : undefined,
        hasBuild: s.build !== undefined && s.build !== null,
        profiles: Array.isArray(s.profiles) ? s.profiles.map(String) : [],
        hasHealthcheck: isRecord(hc) && hc.disable !== true && !(Array.isArray(hc.test) && hc.test[0] === 'NONE'),
        secrets: Array.isArray(s.secrets) ? s.secrets.map((x) => (isRecord(x) ? String(x.source) : String(x))) : [],
        replicas: isRecord(s.deploy) && s.deploy.replicas !== undefined ? Number(s.deploy.replicas) : s.scale !== undefined ? Number(s.scale) : undefined,
        restart: typeof s.restart === 'string' ? s.restart : undefined,
        constraints: isRecord(s.deploy) && isRecord(s.deploy.placement) && Array.isArray(s.deploy.placement.constraints) ? s.deploy.placement.constraints.map(String) : [],
        bindSources: Array.isArray(s.volumes) ? s.volumes.map(bindSource).filter((v): v is string => v !== undefined) : [],
      });
    }
  }
  const secrets = new Map<string, { file?: string }>();
  if (isRecord(doc.secrets)) {
    for (const [name, raw] of Object.entries(doc.secrets)) {
      secrets.set(name, { file: isRecord(raw) && typeof raw.file === 'string' ? raw.file : undefined });
    }
  }
  const volumes = new Map<string, { name?: string }>();
  if (isRecord(doc.volumes)) {
    for (const [name, raw] of Object.entries(doc.volumes)) volumes.set(name, { name: isRecord(raw) && typeof raw.name === 'string' ? raw.name : undefined });
  }
  return { services, secrets, volumes };
}

/** The Engine's names of the model's volumes: `<project>_<volume>` unless the file names one. */
export function volumeNames(model: ComposeModel, project: string): string[] {
  return [...model.volumes].map(([key, v]) => v.name ?? `${project}_${key}`);
}

/** The host path of a bind mount (long syntax `type: bind`, or a short `./a:/b` / `/a:/b:ro`); undefined otherwise. */
function bindSource(v: unknown): string | undefined {
  if (isRecord(v)) return v.type === 'bind' && typeof v.source === 'string' ? v.source : undefined;
  if (typeof v !== 'string') return undefined;
  const source = v.split(':')[0] ?? '';
  return /^[./~]/.test(source) && v.includes(':') ? source : undefined;
}

/** `registry/shop-api:1.4.0` -> { repository: 'registry/shop-api', tag: '1.4.0' } (a port colon is not a tag). */
export function splitImage(image: string): { repository: string; tag: string } {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) return { repository: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repository: name, tag: 'latest' };
}
