# serviceflow status gate for Request Tracker 5 (installed by serviceflow-rt; see its README).
#
# RT loads RT/Ticket_Local.pm after RT::Ticket, from its local lib directory. This overlay wraps
# RT::Ticket::SetStatus: before a ticket moves to a gated status it asks serviceflow
#
#   POST <ServiceflowGateURL>/v1/cases/<case id>/check
#   Authorization: Bearer <ServiceflowGateToken>
#   {"record": {"type": "status_change", "to": ..., "from": ..., "case_id": ..., "id": ..., "at": ...,
#               "actor": {...}, "source": {...}, "meta": {"rt": {...}}}}
#
# and refuses the change, with serviceflow's reasons as RT's message, when the answer says
# "allowed": false. Nothing is written for a refused change; the status stays. Every path that
# changes a status through SetStatus is gated: the web UI, REST and REST2, the mail gateway's
# commands, scrips (RT::Action::SetStatus, AutoOpen...), rt-crontool.
#
# Site configuration (RT_SiteConfig.d/80-serviceflow-gate.pm, written by install_gate):
#   Set($ServiceflowGateURL, 'http://127.0.0.1:8080');   # serviceflow's base URL; unset = no gate
#   Set($ServiceflowGateToken, '...');                    # a serviceflow token with the check scope
#   Set(@ServiceflowGateStatuses, 'resolved');            # RT statuses whose entry is checked
#   Set(%ServiceflowStatusMap, new => 'open', ..., resolved => 'closed');  # RT -> serviceflow
#   Set($ServiceflowCasePrefix, 'rt-');                   # ticket 42 is case rt-42
#   Set($ServiceflowGateTimeout, 5);                      # seconds
#   Set($ServiceflowGateFailOpen, 0);                     # when serviceflow cannot answer: 0 refuse, 1 allow
#
# "Cannot answer" is: no connection, a timeout, an HTTP status other than 2xx, or a body that is not
# a JSON object with a boolean "allowed". Fail closed (the default) refuses the change with that
# reason; fail open lets it through and logs a warning naming the ticket and the reason.
package RT::Ticket;

use strict;
use warnings;
no warnings 'redefine';

use HTTP::Tiny ();
use JSON ();
use POSIX ();
use URI::Escape ();

our $SERVICEFLOW_GATE_VERSION = '1';

my $serviceflow_set_status = \&RT::Ticket::SetStatus;

*RT::Ticket::SetStatus = sub {
    my $self = shift;
    my %args = @_ == 1 ? ( Status => $_[0] ) : @_;
    my ( $allowed, $why ) = $self->_ServiceflowGate( $args{Status} );
    return ( 0, $why ) unless $allowed;
    return $serviceflow_set_status->( $self, %args );
};

sub _ServiceflowConfigList {
    my $name   = shift;
    my @values = RT->Config->Get($name);
    return @values == 1 && ref $values[0] eq 'ARRAY' ? @{ $values[0] } : grep { defined } @values;
}

sub _ServiceflowConfigHash {
    my $name   = shift;
    my @values = RT->Config->Get($name);
    return @values == 1 && ref $values[0] eq 'HASH' ? %{ $values[0] } : ( @values % 2 ? () : @values );
}

# (1) to go on, or (0, message) to refuse.
sub _ServiceflowGate {
    my $self = shift;
    my $new  = lc( shift // '' );
    my $url  = RT->Config->Get('ServiceflowGateURL');
    return (1) unless $url && length $new;

    my $old = lc( $self->__Value('Status') // '' );
    return (1) if $old eq $new;
    my %gated = map { lc($_) => 1 } _ServiceflowConfigList('ServiceflowGateStatuses');
    %gated = ( resolved => 1 ) unless %gated;
    return (1) unless $gated{$new};

    # RT's own refusals (invalid status, lifecycle, rights) come first and need no question.
    my ( $valid ) = $self->ValidateStatusChange($new);
    return (1) unless $valid;

    my ( $allowed, $why ) = eval { $self->_ServiceflowAsk( $url, $old, $new ) };
    if ( my $error = $@ ) {
        ( $allowed, $why ) = ( undef, "the gate failed: $error" );
    }
    return (1) if $allowed;
    return ( 0, $self->loc( 'Status change refused by serviceflow: [_1]', $why ) ) if defined $allowed;

    if ( RT->Config->Get('ServiceflowGateFailOpen') ) {
        RT->Logger->warning( "serviceflow gate: ticket " . $self->id . " $old -> $new allowed unchecked: $why" );
        return (1);
    }
    return ( 0, $self->loc( 'Status change refused: serviceflow could not be asked ([_1])', $why ) );
}

# (1), (0, reasons) for an answer, or (undef, why) when serviceflow could not answer.
sub _ServiceflowAsk {
    my ( $self, $url, $old, $new ) = @_;
    my %map     = _ServiceflowConfigHash('ServiceflowStatusMap');
    my $prefix  = RT->Config->Get('ServiceflowCasePrefix') // 'rt-';
    my $timeout = RT->Config->Get('ServiceflowGateTimeout') || 5;
    my $token   = RT->Config->Get('ServiceflowGateToken') // '';
    my $to      = $map{$new} // $new;
    my $from    = $map{$old};
    return (1) if defined $from && $from eq $to;    # not a change serviceflow can see

    my $case = $prefix . $self->id;
    my $user = $self->CurrentUser->UserObj;
    my $role = $user->id == RT->SystemUser->id ? 'system'
             : $user->Privileged               ? 'agent'
             :                                   'customer';
    my %actor = ( role => $role, id => ( $user->Name // 'unknown' ) );
    $actor{name} = $user->RealName if defined $user->RealName && length $user->RealName;
    my %record = (
        id      => sprintf( '%s%d-proposed-%d-%d', $prefix, $self->id, time, $$ ),
        case_id => $case,
        type    => 'status_change',
        at      => POSIX::strftime( '%Y-%m-%dT%H:%M:%SZ', gmtime ),
        actor   => \%actor,
        to      => $to,
        source  => { system => 'rt', ref => 'ticket/' . $self->id },
        meta    => { rt => { ticket => $self->id + 0, queue => $self->QueueObj->Name, from => $old, to => $new } },
    );
    $record{from} = $from if defined $from;
    # The requestor's RT user name, as serviceflow-rt's source gives it (an email for customers).
    my ($requestor) = map { $_->Name } @{ $self->Requestors->UserMembersObj->ItemsArrayRef };
    $record{customer_id} = $requestor if defined $requestor;

    $url =~ s{/+$}{};
    # verify_SSL: HTTP::Tiny does not check an https server's certificate unless asked.
    my $http = HTTP::Tiny->new(
        timeout    => $timeout,
        verify_SSL => 1,
        agent      => "serviceflow-rt-gate/$SERVICEFLOW_GATE_VERSION",
    );
    my $response = $http->post(
        "$url/v1/cases/" . URI::Escape::uri_escape($case) . '/check',
        {
            headers => {
                'Content-Type'  => 'application/json',
                'Accept'        => 'application/json',
                'Authorization' => "Bearer $token",
            },
            content => JSON::encode_json( { record => \%record } ),
        }
    );
    unless ( $response->{success} ) {
        my $detail = $response->{status} == 599 ? ( $response->{content} // '' ) : "HTTP $response->{status} $response->{reason}";
        $detail =~ s/\s+/ /g;
        return ( undef, substr( $detail, 0, 200 ) );
    }
    my $answer = eval { JSON::decode_json( $response->{content} // '' ) };
    return ( undef, 'the answer is not JSON' ) unless ref $answer eq 'HASH';
    return ( undef, 'the answer has no "allowed"' ) unless exists $answer->{allowed} && JSON::is_bool( $answer->{allowed} );
    return (1) if $answer->{allowed};

    my @reasons;
    for my $violation ( ref $answer->{violations} eq 'ARRAY' ? @{ $answer->{violations} } : () ) {
        next unless ref $violation eq 'HASH';
        my $text = join ': ', grep { defined && length } $violation->{policy}, $violation->{message};
        $text .= " ($violation->{reason})" if defined $violation->{reason} && length $violation->{reason};
        push @reasons, $text if length $text;
    }
    push @reasons, 'a policy forbids it' unless @reasons;
    my $why = join '; ', @reasons;
    $why .= " [decision $answer->{decision_id}]" if defined $answer->{decision_id} && !ref $answer->{decision_id};
    return ( 0, $why );
}

1;
