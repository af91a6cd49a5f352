import { FilesService } from '@app/files';
import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { FileDownloadLinks } from './file-downloads/file-download-links';
import { FileDownload, FileModel } from './graphql/models';

@Resolver()
export class FilesResolver {
  constructor(
    private readonly links: FileDownloadLinks,
    private readonly files: FilesService,
  ) {}

  @Query(() => FileModel, { description: "Any account's file by id (not found once it has expired)" })
  async file(@Args('id', { type: () => ID }) id: string): Promise<FileModel> {
    const f = await this.files.get(null, id, 'id');
    return {
      id: f.id,
      filename: f.filename,
      purpose: f.purpose,
      status: f.status,
      bytes: f.bytes,
      createdAt: f.created_at,
      expiresAt: f.expires_at,
      inputTokensEstimate: f.input_tokens_estimate,
    };
  }

  @Mutation(() => FileDownload, {
    description: "A link that downloads any account's file (a batch's input, output or error file) for the next 5 minutes, without its API key",
  })
  fileDownloadUrl(@Args('fileId', { type: () => ID }) fileId: string): Promise<FileDownload> {
    return this.links.issue(fileId);
  }
}
