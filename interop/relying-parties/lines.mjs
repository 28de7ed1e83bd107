// The test talks to the client scripts one line at a time over stdin.
import readline from 'node:readline';

/** The rest of the first stdin line that starts with `prefix`. */
export function nextLine(prefix) {
  const lines = readline.createInterface({ input: process.stdin });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith(prefix)) {
        // Resolve first: close() emits 'close' at once.
        resolve(line.slice(prefix.length));
        lines.close();
      }
    });
    lines.on('close', () => reject(new Error(`stdin closed before a '${prefix}' line`)));
  });
}
