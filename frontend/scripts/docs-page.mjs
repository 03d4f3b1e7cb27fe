// Puts the API docs page (docs/: the page, its script and style), the Swagger UI assets it loads (from
// the pinned swagger-ui-dist package) and the app's icon into <out>/docs, so the folder is
// self-contained. `npm run build` runs it after vite build (out: dist); the local stack serves the page
// at /docs. Nothing comes from a CDN.
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const out = path.resolve(root, process.argv[2] || 'dist', 'docs')
const swagger = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
const ASSETS = ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE']

fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })
for (const name of fs.readdirSync(path.join(root, 'docs'))) {
  fs.copyFileSync(path.join(root, 'docs', name), path.join(out, name))
}
for (const name of ASSETS) {
  fs.copyFileSync(path.join(swagger, name), path.join(out, name === 'LICENSE' || name === 'NOTICE' ? `swagger-ui.${name}` : name))
}
fs.copyFileSync(path.join(root, 'public', 'favicon.svg'), path.join(out, 'favicon.svg'))
const version = JSON.parse(fs.readFileSync(path.join(swagger, 'package.json'), 'utf8')).version
console.log(`API docs page with swagger-ui-dist ${version} in ${path.relative(process.cwd(), out) || '.'}`)
