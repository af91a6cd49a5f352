import { Args, ID, Mutation, Resolver } from '@nestjs/graphql';
import { FileDownloadLinks } from './file-downloads/file-download-links';
import { FileDownload } from './graphql/models';

@Resolver()
export class FilesResolver {
  constructor(private readonly links: FileDownloadLinks) {}

  @Mutation(() => FileDownload, {
    description: "A link that downloads any account's file (a batch's input, output or error file) for the next 5 minutes, without its API key",
  })
  fileDownloadUrl(@Args('fileId', { type: () => ID }) fileId: string): Promise<FileDownload> {
    return this.links.issue(fileId);
  }
}
