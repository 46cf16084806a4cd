#!/usr/bin/env bash
# launch/reproduce-mnist.sh on the sample data with tiny step counts: the
# sigma search picks a value from the paper's grid, every run is marked
# done with its figures and logs, a second invocation trains nothing, a run
# stopped by a signal makes the script stop with a message and resumes from
# its checkpoint when the same command is run again, and the SVD stage
# compresses and fine-tunes.
source "$(dirname "$0")/lib.sh"

script=$DF_SRCDIR/launch/reproduce-mnist.sh
case $DF_BIN in /*) ;; *) DF_BIN=$PWD/$DF_BIN ;; esac
export DF_SKIP_SETUP=1 DF_BIN DF_WORK=$TMP/work DF_RECORD=$TMP/record
export DF_STEPS=20 DF_HOLDOUT_STEPS=10 DF_FINETUNE_STEPS=10 DF_HOLDOUT=1000
export DF_SEEDS=2 DF_SEEDS_OTHER=1
export DF_EXTRA="${SAMPLE_DATA[*]} --set solver.test_interval=0 --set solver.display=10 --set checkpoint.interval=5"

# 1. sigma search and Table 1 rows
DF_ROWS="ff1024 af1024 reference" bounded 600 bash "$script" sigma table1 \
    >"$TMP/first.out" 2>&1 || fail "first invocation exited $?: $(tail -n 3 "$TMP/first.out")"
for run in holdout-ff1024-sigma0.001 holdout-ff1024-sigma0.005 holdout-ff1024-sigma0.01 \
           holdout-ff1024-sigma0.05 ff1024-s1 ff1024-s2 af1024-s1 af1024-s2 reference-s1 reference-s2; do
    if [ -f "$DF_WORK/$run/done" ] && grep -q '^error=[0-9.]*$' "$DF_WORK/$run/done" &&
       [ -s "$DF_RECORD/$run/metrics.csv" ] && [ -s "$DF_RECORD/$run/train.log" ]; then
        :
    else
        fail "$run: not done or not recorded"
    fi
done
sigma=$(cat "$DF_WORK/sigma-ff1024" 2>/dev/null)
case $sigma in 0.001 | 0.005 | 0.01 | 0.05) pass "sigma chosen: $sigma" ;; *) fail "sigma-ff1024: '$sigma'" ;; esac
# the held-out runs scored 1,000 held-out images, the Table 1 runs the test set
grep -q '^holdout error [0-9.]*% on 1000 images' "$DF_WORK/holdout-ff1024-sigma0.05/train.log" ||
    fail "sigma search did not score on the held-out images"
grep -q '^test error [0-9.]*% on 1000 images' "$DF_WORK/ff1024-s1/train.log" ||
    fail "Table 1 run did not score on the test set"

# 2. the same command again trains nothing and changes no record
before=$(cat "$DF_WORK"/*/done | md5sum)
DF_ROWS="ff1024 af1024 reference" bounded 120 bash "$script" sigma table1 \
    >"$TMP/second.out" 2>&1 || fail "second invocation exited $?"
if grep -q ': training ' "$TMP/second.out"; then
    fail "second invocation trained again: $(grep ': training ' "$TMP/second.out" | head -n 2)"
else
    pass "second invocation skipped every finished run"
fi
[ "$before" = "$(cat "$DF_WORK"/*/done | md5sum)" ] || fail "done records changed"

# 3. a run stopped by a signal: the script stops, the same command resumes it
DF_STEPS=600 DF_SEEDS=3 DF_ROWS=af1024 bash "$script" table1 >"$TMP/stop.out" 2>&1 &
pid=$!
for _ in $(seq 300); do
    [ -f "$DF_WORK/af1024-s3/latest" ] && break
    sleep 0.1
done
[ -f "$DF_WORK/af1024-s3/latest" ] || fail "af1024-s3 wrote no checkpoint"
# the ranks themselves (mpirun's command line names the run too)
for d in /proc/[0-9]*; do
    case $(cat "$d/comm" 2>/dev/null) in *deepfried*) ;; *) continue ;; esac
    tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q "run.dir=$DF_WORK/af1024-s3 " &&
        kill -INT "${d#/proc/}" 2>/dev/null
done
wait "$pid"
rc=$?
if [ -f "$DF_WORK/af1024-s3/done" ]; then
    echo "note: af1024-s3 finished before the signal arrived; resume not exercised"
else
    [ "$rc" -ne 0 ] || fail "script exited 0 after its run was stopped"
    grep -q 'run the same command again' "$TMP/stop.out" || fail "no restart hint: $(tail -n 2 "$TMP/stop.out")"
    DF_STEPS=600 DF_SEEDS=3 DF_ROWS=af1024 bounded 300 bash "$script" table1 \
        >"$TMP/resume.out" 2>&1 || fail "resuming invocation exited $?"
    grep -q '^resum' "$DF_WORK/af1024-s3/train.log" || fail "af1024-s3 did not resume from its checkpoint"
    [ -f "$DF_WORK/af1024-s3/done" ] && grep -q '^resumed=1$' "$DF_WORK/af1024-s3/done" &&
        pass "stopped run resumed and finished" || fail "af1024-s3 not done after resuming"
fi

# 4. SVD: compress the seed-1 models, evaluate, fine-tune
bounded 300 bash "$script" svd >"$TMP/svd.out" 2>&1 || fail "svd stage exited $?: $(tail -n 3 "$TMP/svd.out")"
for tag in reference-ip1-rank250 reference-ip1-rank125 af1024-ip2-rank5 af1024-ip2-rank2; do
    grep -q '^error=[0-9.]*$' "$DF_WORK/svd-$tag.done" 2>/dev/null || fail "svd-$tag: no error before fine-tuning"
    [ -f "$DF_WORK/svd-$tag-finetuned/done" ] || fail "svd-$tag: not fine-tuned"
done
# 431,080 - 400,500 (ip1) + 800*125 (ip1_svd) + 125*500 + 500 (ip1) = 193,580
grep -q '^params=193,580$' "$DF_WORK/svd-reference-ip1-rank125.done" 2>/dev/null ||
    fail "rank-125 reference: $(grep params "$DF_WORK/svd-reference-ip1-rank125.done" 2>/dev/null)"

# 5. a stage that does not exist
if bash "$script" bogus >"$TMP/bogus.out" 2>&1; then
    fail "unknown stage accepted"
else
    grep -q "unknown stage 'bogus'" "$TMP/bogus.out" || fail "unknown stage: $(cat "$TMP/bogus.out")"
fi
finish
