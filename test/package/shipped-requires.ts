import { builtinModules } from 'node:module';
import { posix } from 'node:path';

/** What a package's manifest lets its code require besides its own files. */
export interface PackageManifest {
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly bundledDependencies?: string[];
}

/** Every `require('…')` with a literal argument, as tsc writes imports and dynamic imports in CommonJS. */
const REQUIRE = /\brequire\(\s*(['"])([^'"]+)\1\s*\)/g;

/** How Node.js resolves a relative require to a file: as written, then with an extension, then as a folder. */
const CANDIDATES = ['', '.js', '.json', '.node', '/index.js', '/index.json'];

/** The package a bare specifier loads: `@scope/name` or `name`, without any subpath. */
function packageOf(specifier: string): string {
  const [first, second] = specifier.split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/**
 * The requires in a package's `lib/**.js` files that would fail once installed: a relative one must name a file inside
 * the package, and a bare one a Node.js built-in or a package the manifest declares (a dependency or peer dependency;
 * devDependencies are not installed with it).
 *
 * @param files every file of the package, by its path inside the package (`lib/index.js`), with the content of each
 *              `.js` file under `lib/`
 * @returns one line per require that does not resolve, naming the file and the require
 */
export function unresolvedRequires(files: ReadonlyMap<string, string>, manifest: PackageManifest): string[] {
  const declared = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    ...(manifest.bundledDependencies ?? []),
  ]);
  const problems: string[] = [];
  for (const [file, content] of files) {
    if (!file.startsWith('lib/') || !file.endsWith('.js')) continue;
    for (const [, , specifier] of content.matchAll(REQUIRE)) {
      if (specifier.startsWith('./') || specifier.startsWith('../')) {
        const target = posix.normalize(posix.join(posix.dirname(file), specifier));
        if (target.startsWith('../')) {
          problems.push(`${file}: require('${specifier}') points outside the package`);
        } else if (!CANDIDATES.some((suffix) => files.has(target + suffix))) {
          problems.push(`${file}: require('${specifier}') names no file in the package (${target})`);
        }
      } else if (specifier.startsWith('node:') || builtinModules.includes(specifier)) {
        continue;
      } else if (specifier.startsWith('/')) {
        problems.push(`${file}: require('${specifier}') is an absolute path`);
      } else if (!declared.has(packageOf(specifier))) {
        problems.push(`${file}: require('${specifier}') loads ${packageOf(specifier)}, which is neither a Node.js built-in nor a dependency or peer dependency`);
      }
    }
  }
  return problems;
}
