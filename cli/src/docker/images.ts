import type Docker from 'dockerode';

export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  created: string;
  labels: Record<string, string>;
  version?: string | undefined;
}

/** The local image for a reference (tag or id), or undefined when the engine does not have it. */
export async function inspectImage(docker: Docker, ref: string): Promise<ImageInfo | undefined> {
  try {
    const info = await docker.getImage(ref).inspect();
    const labels = info.Config?.Labels ?? {};
    return {
      id: info.Id,
      repoTags: info.RepoTags ?? [],
      repoDigests: info.RepoDigests ?? [],
      created: info.Created,
      labels,
      version: labels['org.opencontainers.image.version'],
    };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/** Points `repository:tag` at an image id (rollback to a version whose tag was since rebuilt). */
export async function tagImage(docker: Docker, id: string, repository: string, tag: string): Promise<void> {
  await docker.getImage(id).tag({ repo: repository, tag });
}
