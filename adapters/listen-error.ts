/** The one line an operator reads when the server cannot listen: which variable, what is wrong, the fix. */
export function describeListenError(code: string, port: number, host: string | undefined): string {
  const where = host ?? 'all interfaces';
  switch (code) {
    case 'EADDRINUSE':
      return `PORT ${port} is already in use on ${where} (EADDRINUSE): another process listens there. Stop it, or set PORT to a free port.`;
    case 'EACCES':
      return `PORT ${port} needs privileges this process does not have on ${where} (EACCES): ports below 1024 are reserved. Set PORT to 1024 or above and put a reverse proxy on 443 in front.`;
    case 'EADDRNOTAVAIL':
      return `HOST ${where} is not an address of this machine (EADDRNOTAVAIL). Set HOST to one of its addresses (127.0.0.1 for this machine only), or unset it to listen on all interfaces.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST ${where} is a name that does not resolve (${code}). Set HOST to an address such as 127.0.0.1 or 0.0.0.0, or unset it to listen on all interfaces.`;
    default:
      return `cannot listen on ${where} port ${port} (${code}). Check PORT and HOST.`;
  }
}
