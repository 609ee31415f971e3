// Drives labthings Things with node-wot, the W3C reference WoT consumer, as a user's
// script would: TDs fetched as served, default options, nothing patched.
//
//   node driver.mjs PLAN.json RESULTS.json
//
// PLAN is {"timeout": seconds, "credentials": {thingId: {token}}?, "steps": [...]}; each
// step is run in order and gives one result, {"op", "ok", ...} or {"op", "ok": false,
// "error"}. Results go to a file, since node-wot writes its own lines to the console.
//
// Steps: td {url, as} | consume {td, as} | readAll {thing} | read {thing, name}
// | write {thing, name, value} | invoke {thing, name, input?, formIndex?, bytes?}
// | observe {thing, name} | subscribe {thing, name} | collect {thing, name, count, timeout}
// | stop {thing, name} | sleep {seconds}
import { readFileSync, writeFileSync } from "node:fs";
import core from "@node-wot/core";
import http from "@node-wot/binding-http";

const { Servient } = core;
const { HttpClientFactory } = http;
const [planPath, resultsPath] = process.argv.slice(2);
const plan = JSON.parse(readFileSync(planPath, "utf8"));
const results = [];

function finish(code) {
  writeFileSync(resultsPath, JSON.stringify(results));
  process.exit(code);
}

setTimeout(() => {
  results.push({ op: "timeout", ok: false, error: `the plan took over ${plan.timeout} s` });
  finish(2);
}, (plan.timeout ?? 60) * 1000);

const servient = new Servient();
servient.addClientFactory(new HttpClientFactory(null));
if (plan.credentials) servient.addCredentials(plan.credentials);
const WoT = await servient.start();
const things = {};
const streams = {}; // "thing/name" -> {values, errors, subscription}

function listen(key) {
  const stream = { values: [], errors: [], subscription: null, chain: Promise.resolve() };
  streams[key] = stream;
  // Values are read one after another, so they are kept in the order they arrived.
  const listener = (output) => {
    stream.chain = stream.chain.then(async () => {
      try {
        stream.values.push(await output.value());
      } catch (error) {
        stream.errors.push(String(error));
      }
    });
  };
  const onError = (error) => stream.errors.push(String(error));
  return { stream, listener, onError };
}

async function collect(stream, count, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (stream.values.length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await stream.chain;
}

async function run(step) {
  const thing = things[step.thing];
  const key = `${step.thing}/${step.name}`;
  switch (step.op) {
    case "td": {
      const td = await WoT.requestThingDescription(step.url);
      things[step.as] = await WoT.consume(td);
      return { title: td.title, id: td.id };
    }
    case "consume": // a TD fetched by other means (node-wot fetches TDs without credentials)
      things[step.as] = await WoT.consume(step.td);
      return {};
    case "readAll": {
      const outputs = await thing.readAllProperties();
      const values = {};
      for (const [name, output] of outputs) values[name] = await output.value();
      return { values };
    }
    case "read":
      return { value: await (await thing.readProperty(step.name)).value() };
    case "write":
      await thing.writeProperty(step.name, step.value);
      return {};
    case "invoke": {
      const options = step.formIndex === undefined ? undefined : { formIndex: step.formIndex };
      const output = await thing.invokeAction(step.name, step.input, options);
      if (step.bytes) return { text: Buffer.from(await output.arrayBuffer()).toString("utf8") };
      return { value: (await output.value()) ?? null };
    }
    case "observe": {
      const { stream, listener, onError } = listen(key);
      stream.subscription = await thing.observeProperty(step.name, listener, onError);
      return {};
    }
    case "subscribe": {
      const { stream, listener, onError } = listen(key);
      stream.subscription = await thing.subscribeEvent(step.name, listener, onError);
      return {};
    }
    case "collect": {
      const stream = streams[key];
      await collect(stream, step.count, step.timeout ?? 10);
      return { values: [...stream.values], errors: [...stream.errors] };
    }
    case "stop":
      await streams[key].subscription.stop();
      return {};
    case "sleep":
      await new Promise((resolve) => setTimeout(resolve, step.seconds * 1000));
      return {};
    default:
      throw new Error(`unknown step ${step.op}`);
  }
}

for (const step of plan.steps) {
  try {
    results.push({ op: step.op, ok: true, ...(await run(step)) });
  } catch (error) {
    results.push({ op: step.op, ok: false, error: String(error?.message ?? error) });
  }
}
await servient.shutdown();
finish(0);
