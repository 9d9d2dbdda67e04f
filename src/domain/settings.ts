// Settings shared by the CLI and the start hook (design.md §7). They live in the database
// because xapi runs the hook with no environment; these are their names, defaults and rules.
import { UsageError } from "./errors.ts";
import { quote } from "./validate.ts";

export interface Settings {
  platformKey: string;
  hookStrict: boolean;
  xeTimeoutS: number;
  shutdownTimeoutS: number;
  startTimeoutS: number;
}

interface SettingDef {
  key: string;
  default: string;
  help: string;
  /** Returns the canonical stored form, or throws UsageError. */
  parse(raw: string): string;
}

function seconds(key: string, max: number) {
  return (raw: string): string => {
    const v = raw.trim();
    if (/^[1-9][0-9]*$/.test(v) && Number(v) <= max) return v;
    throw new UsageError(`invalid value ${quote(raw)} for ${key}: seconds from 1 to ${max}`);
  };
}

/** The platform map keys that carry QEMU args (the second is a pending XCP-ng spelling). */
export const PLATFORM_KEYS: readonly string[] = ["device-model-args", "device_model_args"];

export const SETTING_DEFS: readonly SettingDef[] = [
  {
    key: "platform-key",
    default: "device-model-args",
    help:
      "platform map key that carries the QEMU args (a pending XCP-ng change reads device_model_args)",
    parse(raw) {
      // Only the two spellings xapi reads QEMU args from: any other platform key (such as
      // device-model, which selects QEMU itself) would get our device and stop the VM starting.
      const v = raw.trim();
      if (PLATFORM_KEYS.includes(v)) return v;
      throw new UsageError(
        `invalid value ${quote(raw)} for platform-key: use ${PLATFORM_KEYS.join(" or ")}`,
      );
    },
  },
  {
    key: "hook-strict",
    default: "off",
    help: "on: the start hook refuses (exit 2) a start with stale vGPU args or a colliding vm_id",
    parse(raw) {
      const v = raw.trim().toLowerCase();
      if (["on", "true", "yes", "1"].includes(v)) return "on";
      if (["off", "false", "no", "0"].includes(v)) return "off";
      throw new UsageError(`invalid value ${quote(raw)} for hook-strict: use on or off`);
    },
  },
  {
    key: "xe-timeout",
    default: "30",
    help: "seconds one xe call may take before it is killed",
    parse: seconds("xe-timeout", 600),
  },
  {
    key: "shutdown-timeout",
    default: "120",
    help: "seconds to wait for a clean VM shutdown (--shutdown-timeout overrides)",
    parse: seconds("shutdown-timeout", 3600),
  },
  {
    key: "start-timeout",
    default: "120",
    help: "seconds to wait for vm-start when a reconfiguration restarts a VM",
    parse: seconds("start-timeout", 3600),
  },
];

export function settingDef(key: string): SettingDef {
  const def = SETTING_DEFS.find((d) => d.key === key);
  if (def === undefined) {
    throw new UsageError(
      `unknown setting ${quote(key)}; known settings: ${SETTING_DEFS.map((d) => d.key).join(", ")}`,
    );
  }
  return def;
}

/** Effective settings from the stored ones; a stored value that no longer parses uses the default. */
export function resolveSettings(stored: ReadonlyMap<string, string>): Settings {
  const get = (key: string) => {
    const def = settingDef(key);
    const raw = stored.get(key);
    if (raw === undefined) return def.default;
    try {
      return def.parse(raw);
    } catch {
      return def.default;
    }
  };
  return {
    platformKey: get("platform-key"),
    hookStrict: get("hook-strict") === "on",
    xeTimeoutS: Number(get("xe-timeout")),
    shutdownTimeoutS: Number(get("shutdown-timeout")),
    startTimeoutS: Number(get("start-timeout")),
  };
}
