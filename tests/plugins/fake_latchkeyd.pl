#!/usr/bin/perl
# fake_latchkeyd.pl MODE SOCKET STATUS-FILE — a stand-in for latchkeyd on
# SOCKET that speaks client/lk_proto.h's framing and misbehaves as MODE
# says, for the nginx module's hostile cases (tests/plugins/nginx_module.sh).
# It keeps "CONNECTIONS VERIFIES OPEN" in STATUS-FILE (accepted, verify
# frames read, connections still open), rewritten whole at every change.
#   silent   reads everything, answers nothing (not even the handshake)
#   swap     answers the handshake; holds verifies until 4 wait, then
#            answers them in the reverse order, all in one write: service
#            "gN" granted (uin N, key id k-gN), any other refused
#   unknown  answers each verify "Success" under a request id never asked
#   op       answers each verify "Success" with its id but another op (PING)
#   trunc    answers each verify with half a "Success" frame, then closes
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;

my ($mode, $path, $status) = @ARGV;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 64) or die "listen: $!";
chmod 0777, $path;
my $sel = IO::Select->new($s);
my (%buf, @held);
my ($conns, $verifies, $open) = (0, 0, 0);

sub report {
    open my $f, ">", "$status.tmp" or die "$status.tmp: $!";
    print $f "$conns $verifies $open\n";
    close $f;
    rename "$status.tmp", $status or die "rename: $!";
}

sub field { my ($type, $data) = @_; return pack("Cn", $type, length $data) . $data }

sub frame { # OP ID FIELDS: a response frame
    my ($op, $id, $fields) = @_;
    my $body = pack("CCnN", $op, 1, 0, $id) . $fields;
    return pack("N", length $body) . $body;
}

sub granted { my ($uin, $key_id) = @_; return field(13, "Success") . field(9, pack("Q>", $uin)) . field(8, $key_id) }

sub service_of { # the LKP_F_SERVICE field of a request body, or ""
    my ($body) = @_;
    my $off = 8;
    while ($off + 3 <= length $body) {
        my ($type, $len) = unpack("Cn", substr($body, $off, 3));
        return substr($body, $off + 3, $len) if $type == 5;
        $off += 3 + $len;
    }
    return "";
}

sub drop { my ($h) = @_; $sel->remove($h); close $h; delete $buf{$h}; $open--; }

sub answer { # H OP ID BODY: what MODE says to a verify; false when H was closed
    my ($h, $op, $id, $body) = @_;
    if ($mode eq "swap") {
        push @held, [$h, $op, $id, service_of($body)];
        return 1 if @held < 4;
        my %out;
        for my $v (reverse @held) {
            my ($c, $vop, $vid, $svc) = @$v;
            $out{$c} //= [$c, ""];
            $out{$c}[1] .= $svc =~ /^g(\d+)$/ ? frame($vop, $vid, granted($1, "k-$svc"))
                : frame($vop, $vid, field(13, "AuthFailure.SignatureFailure") . field(14, "wrong secret"));
        }
        @held = ();
        syswrite($_->[0], $_->[1]) for values %out;
    } elsif ($mode eq "unknown") {
        syswrite($h, frame($op, $id ^ 0x40000000, granted(9, "k-x")));
    } elsif ($mode eq "op") {
        syswrite($h, frame(2, $id, granted(9, "k-x")));
    } elsif ($mode eq "trunc") {
        my $f = frame($op, $id, granted(9, "k-x"));
        syswrite($h, substr($f, 0, int(length($f) / 2)));
        drop($h);
        return 0;
    }
    return 1;
}

report();
while (my @ready = $sel->can_read) {
    for my $h (@ready) {
        if ($h == $s) {
            my $c = $s->accept or next;
            $sel->add($c);
            $buf{$c} = "";
            $conns++;
            $open++;
            report();
            next;
        }
        my $n = sysread($h, my $data, 65536);
        if (!$n) { drop($h); report(); next }
        $buf{$h} .= $data;
        while (defined $buf{$h} && length $buf{$h} >= 4 && length $buf{$h} >= 4 + unpack("N", $buf{$h})) {
            my $len = unpack("N", $buf{$h});
            my $body = substr($buf{$h}, 4, $len);
            substr($buf{$h}, 0, 4 + $len) = "";
            my ($op, undef, undef, $id) = unpack("CCnN", $body);
            if ($op == 3 || $op == 4) {
                $verifies++;
                last if $mode ne "silent" && !answer($h, $op, $id, $body);
            } elsif ($op == 1 && $mode ne "silent") {
                syswrite($h, frame(1, $id, field(1, pack("N", 1)) . field(13, "Success")));
            }
        }
        report();
    }
}
