import { request } from '../api/client';
import { useAction } from '../api/hooks';
import { FileDownloadUrlDocument } from '../gql/graphql';
import { Problem } from './components';

/**
 * Downloads a stored file through a link the admin API signs for a few minutes (`fileDownloadUrl`): the
 * browser fetches it as an ordinary download, with no key of the tenant's and no admin token in it.
 */
export function DownloadButton({ fileId, label }: { fileId: string; label: string }) {
  const action = useAction();
  const download = () =>
    void action.run(async () => {
      const { fileDownloadUrl } = await request(FileDownloadUrlDocument, { fileId });
      const link = document.createElement('a');
      link.href = fileDownloadUrl.url;
      link.download = fileDownloadUrl.filename;
      link.rel = 'noopener';
      document.body.append(link);
      link.click();
      link.remove();
    });
  return (
    <>
      <button type="button" disabled={action.pending} onClick={download}>
        {action.pending ? 'Preparing…' : label}
      </button>
      <Problem error={action.error} />
    </>
  );
}
