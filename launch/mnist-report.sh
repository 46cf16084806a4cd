#!/usr/bin/env bash
# Writes docs/results/mnist.md and its plots from the runs of
# launch/reproduce-mnist.sh (its "report" stage calls this). The prose comes
# from docs/results/mnist.md.in; each line of it that is only @NAME@ is
# replaced by a table or figure made here from DF_WORK/*/done and the
# runs' metrics.csv. Rows without finished runs are shown as "not run".
#   DF_WORK=runs/reproduce-mnist bash launch/mnist-report.sh
set -eu
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=${DF_WORK:-runs/reproduce-mnist}
bin=${DF_BIN:-./deepfried}
record=docs/results/mnist
template=docs/results/mnist.md.in
out=docs/results/mnist.md
[ -d "$work" ] || { echo "mnist-report: $work: no runs (run launch/reproduce-mnist.sh)" >&2; exit 1; }
[ -r "$template" ] || { echo "mnist-report: $template: missing" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "mnist-report: gnuplot not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$record"
parts=$(mktemp -d)
trap 'rm -rf "$parts"' EXIT

# Row definitions shared with reproduce-mnist.sh (id|config|label|paper
# error|paper params|class).
eval "$(sed -n '/^table1_rows=(/,/^)/p;/^fashion_rows=(/,/^)/p' launch/reproduce-mnist.sh)"

value() { [ -f "$1" ] && sed -n "s/^$2=//p" "$1" | head -n 1; return 0; }
pct() { local v; v=$(value "$1" error); [ -n "$v" ] && printf '%s%%' "$v"; return 0; }
field() { local IFS='|'; set -f; local a=($1); set +f; printf '%s' "${a[$2]:-}"; }

# seed_runs ID: the finished runs of a row, "ID-s1 ID-s2 ..." in seed order.
seed_runs() {
    local d
    for d in "$work/$1"-s[0-9]*; do
        if [ -f "$d/done" ]; then printf '%s\n' "${d##*/}"; fi
    done | sort -V
}

# stats RUN...: "mean sd n list" of the runs' test errors (%), and the
# median wall time and images/s.
stats() {
    local r
    for r in "$@"; do
        printf '%s %s %s\n' "$(value "$work/$r/done" error)" \
            "$(value "$work/$r/done" seconds)" "$(value "$work/$r/done" images_per_s)"
    done | awk '
        function median(a, n,   i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { e[NR] = $1; s += $1; ss += $1 * $1; t[NR] = $2; v[NR] = $3
          list = list (NR > 1 ? ", " : "") sprintf("%.2f%%", $1) }
        END {
            if (NR == 0) { print "-"; exit }
            m = s / NR; sd = NR > 1 ? sqrt((ss - NR * m * m) / (NR - 1)) : 0
            if (sd != sd) sd = 0
            printf "%.2f|%.2f|%d|%s|%.0f|%.0f\n", m, sd, NR, list, median(t, NR), median(v, NR)
        }'
}

# ---- Table 1 ----
{
    echo "| row (paper's name) | config | seeds | test error per seed | mean ± sd | paper | parameters (ours) | paper | wall time (median) | images/s (median) |"
    echo "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for row in "${table1_rows[@]}"; do
        id=$(field "$row" 0)
        runs=$(seed_runs "$id")
        cfg="\`$(field "$row" 1)\`"
        [ -f "$work/sigma-$id" ] && cfg="$cfg (σ = $(cat "$work/sigma-$id"))"
        if [ -z "$runs" ]; then
            echo "| $(field "$row" 2) | $cfg | 0 | not run | | $(field "$row" 3)% | | $(field "$row" 4) | | |"
            continue
        fi
        # shellcheck disable=SC2086
        IFS='|' read -r mean sd n list secs ips < <(stats $runs)
        first=$(printf '%s\n' $runs | head -n 1)
        pm="$mean%"
        [ "$n" -gt 1 ] && pm="$mean ± $sd%"
        echo "| $(field "$row" 2) | $cfg | $n | $list | $pm | $(field "$row" 3)% | $(value "$work/$first/done" params) | $(field "$row" 4) | $secs s | $ips |"
    done
} >"$parts/TABLE1"

# ---- sigma search ----
{
    echo "| row | σ = 0.001 | σ = 0.005 | σ = 0.01 | σ = 0.05 | chosen |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for row in "${table1_rows[@]}"; do
        case " $(field "$row" 5) " in *" fixed "*) ;; *) continue ;; esac
        id=$(field "$row" 0)
        line="| $(field "$row" 2) |"
        for s in 0.001 0.005 0.01 0.05; do
            e=$(value "$work/holdout-$id-sigma$s/done" error)
            line="$line ${e:+$e%} |"
        done
        echo "$line $(cat "$work/sigma-$id" 2>/dev/null || echo "not chosen") |"
    done
    steps=$(sed -n 's/^finished \([0-9]*\) steps.*/\1/p' "$work"/holdout-*/train.log 2>/dev/null | sort -u | tr '\n' ' ')
    echo
    echo "Held-out error after ${steps:-?}steps (first 55,000 training images trained, last 5,000 scored)."
} >"$parts/SIGMA"

# ---- Section 7: SVD ----
svd_row() {   # tag label base-run layer
    local tag=$1 label=$2 base=$3 layer=$4
    local d=$work/svd-$tag.done ft=$work/svd-$tag-finetuned/done
    if [ ! -f "$d" ]; then
        echo "| $label | $layer | not run | | | |"
        return
    fi
    echo "| $label | $layer | $(value "$d" params) | $(pct "$d") | $(pct "$ft") | $(pct "$work/$base/done") |"
}
{
    echo "| model | layer | parameters | error after SVD | after fine-tuning | uncompressed model |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
    echo "| Reference LeNet, uncompressed | ip1 800 → 500 | $(value "$work/reference-s1/done" params) | | | $(pct "$work/reference-s1/done") |"
    svd_row reference-ip1-rank250 "Reference, SVD-half (rank 250)" reference-s1 ip1
    svd_row reference-ip1-rank125 "Reference, SVD-quarter (rank 125)" reference-s1 ip1
    echo "| Adaptive Fastfood 1024, uncompressed | ip2 1024 → 10 | $(value "$work/af1024-s1/done" params) | | | $(pct "$work/af1024-s1/done") |"
    svd_row af1024-ip2-rank5 "Adaptive Fastfood 1024, SVD-half (rank 5)" af1024-s1 ip2
    svd_row af1024-ip2-rank2 "Adaptive Fastfood 1024, SVD-quarter (rank 2)" af1024-s1 ip2
} >"$parts/SVD"

# ---- Fashion-MNIST ----
{
    echo "| model | config | seeds | test error per seed | mean ± sd | parameters | wall time (median) |"
    echo "| --- | --- | ---: | --- | ---: | ---: | ---: |"
    for row in "${fashion_rows[@]}"; do
        id=$(field "$row" 0)
        runs=$(seed_runs "$id")
        if [ -z "$runs" ]; then
            echo "| $(field "$row" 2) | \`$(field "$row" 1)\` | 0 | not run | | | |"
            continue
        fi
        # shellcheck disable=SC2086
        IFS='|' read -r mean sd n list secs ips < <(stats $runs)
        first=$(printf '%s\n' $runs | head -n 1)
        pm="$mean%"
        [ "$n" -gt 1 ] && pm="$mean ± $sd%"
        echo "| $(field "$row" 2) | \`$(field "$row" 1)\` | $n | $list | $pm | $(value "$work/$first/done" params) | $secs s |"
    done
} >"$parts/FASHION"

# ---- machine and provenance ----
{
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    first_done=$(ls "$work"/*/done 2>/dev/null | head -n 1)
    echo "Generated $(date -u '+%F %H:%M UTC') by \`bash launch/reproduce-mnist.sh\`"
    echo "from the runs in \`$work\` (runs dated $(cat "$work"/*/done 2>/dev/null | sed -n 's/^date=//p' | sort -u | tr '\n' ' ' | sed 's/ $//'))."
    echo "Machine: $cpu, $(nproc) cores; $(value "$first_done" binary);"
    echo "$(sed -n 's/^binary=//p' "$work"/*/done 2>/dev/null | sort | uniq -c | wc -l) distinct build(s) ran these runs."
    echo "MPI ranks per run: ${DF_RANKS:-2}, one thread each."
} >"$parts/MACHINE"

# ---- plots ----
plot_data=$parts/plot
mkdir -p "$plot_data"
plot_cmds=()
i=0
for row in "${table1_rows[@]}"; do
    id=$(field "$row" 0)
    m=$work/$id-s1/metrics.csv
    [ -f "$m" ] || continue
    # test_error is column 6; rows without it are progress rows
    awk -F, 'NR > 1 && $6 != "" { print $1, 100 * $6 }' "$m" >"$plot_data/$id.dat"
    i=$((i + 1))
    # nine distinguishable colours; the reference drawn black and thicker
    colour=$(echo "#000000 #e69f00 #56b4e9 #009e73 #cc79a7 #0072b2 #d55e00 #999999 #7f3c8d" | cut -d' ' -f"$i")
    plot_cmds+=("'$plot_data/$id.dat' using 1:2 with linespoints lw $([ "$i" -eq 1 ] && echo 3 || echo 1.5) pt $i ps 0.8 lc rgb '$colour' title '$(field "$row" 2)'")
done
if [ ${#plot_cmds[@]} -gt 0 ]; then
    gnuplot <<EOF
set terminal pngcairo size 960,600 font "sans,11"
set output "$record/error-vs-step.png"
set title "MNIST test error during training (seed 1, ${DF_RANKS:-2} ranks)"
set xlabel "step"
set ylabel "test error (%)"
set logscale y
set yrange [0.5:5]
set ytics (0.5, 0.7, 1, 1.5, 2, 3, 5)
set grid
set key top right
plot $(IFS=,; echo "${plot_cmds[*]}")
EOF
fi

# error against parameters: ours (mean over seeds), the paper's, SVD rows
: >"$plot_data/ours.dat"
: >"$plot_data/paper.dat"
for row in "${table1_rows[@]}"; do
    id=$(field "$row" 0)
    label=$(field "$row" 2)
    echo "$(field "$row" 4 | tr -d ,) $(field "$row" 3) \"$label\"" >>"$plot_data/paper.dat"
    runs=$(seed_runs "$id")
    [ -n "$runs" ] || continue
    # shellcheck disable=SC2086
    IFS='|' read -r mean sd n list secs ips < <(stats $runs)
    first=$(printf '%s\n' $runs | head -n 1)
    echo "$(value "$work/$first/done" params | tr -d ,) $mean $sd \"$label\"" >>"$plot_data/ours.dat"
done
: >"$plot_data/svd.dat"
for tag in reference-ip1-rank250 reference-ip1-rank125 af1024-ip2-rank5 af1024-ip2-rank2; do
    f=$work/svd-$tag-finetuned/done
    [ -f "$f" ] && [ -f "$work/svd-$tag.done" ] &&
        echo "$(value "$work/svd-$tag.done" params | tr -d ,) $(value "$f" error) \"$tag\"" >>"$plot_data/svd.dat"
done
if [ -s "$plot_data/ours.dat" ]; then
    svd_plot=""
    [ -s "$plot_data/svd.dat" ] &&
        svd_plot=", '$plot_data/svd.dat' using 1:2 with points pt 9 ps 1.6 lc rgb '#009e73' title 'ours, SVD + fine-tuning'"
    gnuplot <<EOF
set terminal pngcairo size 960,600 font "sans,11"
set output "$record/error-vs-params.png"
set title "MNIST test error against trainable parameters"
set xlabel "trainable parameters"
set ylabel "test error (%)"
set logscale x
set xrange [20000:800000]
set xtics ("20k" 20000, "50k" 50000, "100k" 100000, "200k" 200000, "500k" 500000)
set yrange [0.5:2]
set label "points above 2% (SVD of the softmax layer) are in the SVD table" at graph 0.98, graph 0.04 right font ",9"
set grid
set key top left
plot '$plot_data/ours.dat' using 1:2:3 with yerrorbars pt 7 ps 1.2 lc rgb '#0072b2' title 'ours (mean ± sd over seeds)', \
     '$plot_data/paper.dat' using 1:2 with points pt 6 ps 1.6 lc rgb '#d55e00' title 'paper, Table 1'$svd_plot
EOF
fi

# ---- assemble ----
awk -v dir="$parts" '
    /^@[A-Z0-9]+@$/ {
        f = dir "/" substr($0, 2, length($0) - 2)
        while ((getline line < f) > 0) print line
        close(f)
        next
    }
    { print }' "$template" >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out, $record/error-vs-step.png, $record/error-vs-params.png"
