// The part of the WebAssembly JS API that host-sim and its tests use. Node has it at runtime, but
// @types/node 20 does not declare it and TypeScript keeps it in lib.dom, which a Node project must not pull in.
declare namespace WebAssembly {
  type ImportValue = ((...args: never[]) => unknown) | Memory;
  type ModuleImports = Record<string, ImportValue>;
  type Imports = Record<string, ModuleImports>;
  type Exports = Record<string, unknown>;
  interface ModuleImportDescriptor {
    module: string;
    name: string;
    kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  }
  interface ModuleExportDescriptor {
    name: string;
    kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
  }
  class Module {
    constructor(bytes: BufferSource);
    static imports(module: Module): ModuleImportDescriptor[];
    static exports(module: Module): ModuleExportDescriptor[];
    static customSections(module: Module, name: string): ArrayBuffer[];
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
  class RuntimeError extends Error {}
  class CompileError extends Error {}
  function validate(bytes: BufferSource): boolean;
}
type BufferSource = ArrayBufferView<ArrayBufferLike> | ArrayBufferLike;
