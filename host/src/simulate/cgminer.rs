//! CGMiner RPC replies of the simulated families: JSON envelopes per command, multi-commands
//! joined as real cgminer does (each part a one-element array), NUL-terminated.

use super::miner::{Kind, Reading, SimMiner};
use serde_json::{Value, json};

fn envelope(code: u32, msg: &str, description: &str, section: &str, body: Value) -> Value {
    json!({"STATUS":[{"STATUS":"S","When":1_755_615_295u64,"Code":code,"Msg":msg,"Description":description}], section: body, "id": 1})
}

fn error(code: u32, msg: &str, description: &str) -> Value {
    json!({"STATUS":[{"STATUS":"E","When":1_755_615_295u64,"Code":code,"Msg":msg,"Description":description}],"id":1})
}

fn description(kind: Kind) -> &'static str {
    match kind {
        Kind::Whatsminer => "btminer",
        Kind::Braiins => "BOSminer bosminer-plus-tuner 0.9.0",
        Kind::Luxos => "LUXminer 2024.5.1",
        Kind::Avalon => "cgminer 4.11.1",
        _ => "cgminer 1.0.0",
    }
}

fn version(m: &SimMiner) -> Value {
    let d = description(m.kind);
    let body = match m.kind {
        Kind::Antminer => {
            json!([{"BMMiner":"1.0.0","API":"3.1","Miner":"49.0.1.3","CompileTime":"Tue Dec  6 16:12:30 CST 2022","Type":"Antminer S19 Pro"}])
        }
        Kind::Braiins => json!([{"BOSminer":"0.9.0","API":"3.7","Type":"Antminer S19"}]),
        Kind::Luxos => json!([{"LUXminer":"2024.5.1","API":"3.7","Type":"Antminer S19"}]),
        Kind::Whatsminer => json!([{"CGMiner":"4.9.2","API":"3.7","Firmware":"20210322.22.REL"}]),
        Kind::Avalon => json!([{"CGMiner":"4.11.1","API":"3.7","PROD":"Avalon Q","MODEL":"Q"}]),
        Kind::Axeos => json!([]),
    };
    envelope(22, "CGMiner versions", d, "VERSION", body)
}

fn summary(m: &SimMiner, r: &Reading) -> Value {
    let d = description(m.kind);
    let body = match m.kind {
        Kind::Antminer | Kind::Luxos => {
            let gh = r.hashrate_hs / 1e9;
            json!([{"Elapsed":r.uptime_s,"GHS 5s":gh,"GHS av":gh*0.999,"GHS 30m":gh*1.001,"Found Blocks":r.blocks,"Accepted":r.accepted,"Rejected":r.rejected,"Stale":1,"Best Share":r.best_diff,"Device Hardware%":0.0}])
        }
        Kind::Whatsminer => {
            let mh = r.hashrate_hs / 1e6;
            json!([{"Elapsed":r.uptime_s,"MHS av":mh*0.999,"MHS 5s":mh,"MHS 1m":mh,"Temperature":r.temp_c,"Chip Temp Max":r.temp_c+6.0,"Env Temp":24.0,"Fan Speed In":(4800.0*r.fan).round(),"Fan Speed Out":(4700.0*r.fan).round(),"Power":r.power_w.round(),"Factory GHS":100000,"Accepted":r.accepted,"Rejected":r.rejected,"Found Blocks":r.blocks,"Best Share":r.best_diff,"MAC":m.mac(),"Firmware Version":"'20210322.22.REL'"}])
        }
        _ => {
            let mh = r.hashrate_hs / 1e6;
            json!([{"Elapsed":r.uptime_s,"MHS av":mh*0.999,"MHS 5s":mh,"MHS 1m":mh,"Accepted":r.accepted,"Rejected":r.rejected,"Found Blocks":r.blocks,"Best Share":r.best_diff}])
        }
    };
    envelope(11, "Summary", d, "SUMMARY", body)
}

fn pools(m: &SimMiner, r: &Reading) -> Value {
    // Whatsminer numbers pools from 1.
    let first = u32::from(m.kind == Kind::Whatsminer);
    let body = json!([{"POOL":first,"URL":r.pool_url,"Status":"Alive","Priority":0,"Accepted":r.accepted,"Rejected":r.rejected,"Stale":1,"User":format!("bc1qsim.{}", m.index),"Diff":"524K","Stratum Active":true,"Stratum Difficulty":524288.0,"Best Share":r.best_diff}]);
    envelope(7, "1 Pool(s)", description(m.kind), "POOLS", body)
}

fn stats(m: &SimMiner, r: &Reading) -> Value {
    let d = description(m.kind);
    if m.kind == Kind::Avalon {
        let mm = format!(
            "Ver[Q-25.02] DNA[0201] Elapsed[{}] ITemp[24] TMax[{:.0}] TAvg[{:.0}] Fan1[{:.0}] Fan2[{:.0}] FanR[40%] GHSspd[{:.2}] GHSmm[90000] PS[0 1205 {:.0} 74 1672]",
            r.uptime_s,
            r.temp_c + 6.0,
            r.temp_c,
            2100.0 * r.fan,
            2150.0 * r.fan,
            r.hashrate_hs / 1e9,
            r.power_w
        );
        return envelope(70, "CGMiner stats", d, "STATS", json!([{"MM ID0": mm}]));
    }
    let chain = r.hashrate_hs / 1e9 / 3.0;
    let t = r.temp_c.round() as i64;
    let body = json!([
        {"BMMiner":"1.0.0","Miner":"49.0.1.3","Type":"Antminer S19 Pro"},
        {"STATS":0,"ID":"BTM_SOC0","Elapsed":r.uptime_s,"GHS 5s":r.hashrate_hs/1e9,"rate_unit":"GH","total_rateideal":110000.0,"total_freqavg":525,
         "fan_num":4,"fan1":(6000.0*r.fan).round(),"fan2":(5880.0*r.fan).round(),"fan3":(5040.0*r.fan).round(),"fan4":(5040.0*r.fan).round(),
         "temp_pcb1":format!("{}-45-64-65", t-5),"temp_pcb2":format!("{}-50-65-66", t-6),"temp_pcb3":format!("{}-44-64-63", t-7),
         "temp_chip1":format!("{t}-50-69-70"),"temp_chip2":format!("{}-55-70-71", t-1),"temp_chip3":format!("{}-49-69-68", t-2),
         "chain_acn1":114,"chain_acn2":114,"chain_acn3":114,
         "chain_acs1":" ooo ooo","chain_acs2":" ooo ooo","chain_acs3":" ooo ooo",
         "chain_rate1":format!("{chain:.2}"),"chain_rate2":format!("{chain:.2}"),"chain_rate3":format!("{chain:.2}")}
    ]);
    envelope(70, "CGMiner stats", d, "STATS", body)
}

fn devdetails(m: &SimMiner) -> Value {
    let model = match m.kind {
        Kind::Whatsminer => "M30S+_VE40",
        Kind::Avalon => "Avalon Q",
        _ => "Antminer S19 Pro",
    };
    envelope(
        69,
        "Device Details",
        description(m.kind),
        "DEVDETAILS",
        json!([{"DEVDETAILS":0,"Name":"SM","Model":model}]),
    )
}

fn one(m: &SimMiner, r: &Reading, command: &str) -> Value {
    match command {
        "version" => version(m),
        "summary" => summary(m, r),
        "pools" => pools(m, r),
        "stats" => stats(m, r),
        "devdetails" if m.kind != Kind::Antminer => devdetails(m),
        _ => error(14, "Invalid command", description(m.kind)),
    }
}

/// The reply to one request, without framing.
pub fn reply(m: &SimMiner, r: &Reading, request: &[u8]) -> String {
    let command = serde_json::from_slice::<Value>(request)
        .ok()
        .and_then(|v| v.get("command").and_then(Value::as_str).map(str::to_string))
        .or_else(|| {
            std::str::from_utf8(request)
                .ok()
                .map(|s| s.split('|').next().unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    if command.contains('+') {
        // Stock S19 firmware cannot join commands.
        if m.kind == Kind::Antminer {
            return error(14, "Invalid command", description(m.kind)).to_string();
        }
        let mut out = serde_json::Map::new();
        for c in command.split('+') {
            out.insert(c.to_string(), json!([one(m, r, c)]));
        }
        out.insert("id".into(), json!(1));
        return Value::Object(out).to_string();
    }
    one(m, r, &command).to_string()
}

/// Damages a valid reply the ways real firmware does (`}{`, `,}`, `inf`), all repairable.
pub fn quirky(valid: &str) -> String {
    valid
        .replacen("},{", "}{", 1)
        .replacen("}]", ",}]", 1)
        .replacen("\"Rejected\":1", "\"Rejected\":1,\"Temp\":inf", 1)
}
