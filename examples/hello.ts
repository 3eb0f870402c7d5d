// The smallest flow: two tasks, one edge. `npx flotilla run examples/hello.ts`
import { Flow, getLogger, isMain, task } from "flotilla";

const greet = task("greet", (name: string) => `Hello, ${name}!`);
const shout = task("shout", (greeting: string) => {
  getLogger().info(greeting.toUpperCase());
  return greeting.toUpperCase();
});

export const hello = Flow.build("hello", ({ param }) => {
  const name = param("name", "Flotilla");
  return shout(greet(name));
});

// `npx tsx examples/hello.ts` runs it as a script; `flotilla run` imports it and runs it itself.
if (isMain(import.meta)) await hello.run();
