//! The TAP 3.12 data model (GSMA TD.57), transcribed from the `TAP-0312` ASN.1 module.
//!
//! Field names are the module's in snake case; each field carries its ASN.1 name and
//! `[APPLICATION n]` tag in the macro invocation, which generates the BER codec. Everything is
//! `OPTIONAL` in the module (TD.57 marks mandatory items `*m.m.` and checks them in
//! validation, not in the syntax), so every field is an `Option` or a possibly empty list.
//!
//! Values are kept as they are on the wire (`Octets` for AsciiString, NumberString,
//! HexString and BCDString; `i64` for INTEGER): decoding never fails on a bad value, which is
//! validation's job, so a record with a wrong time stamp can still be returned in RAP.
//!
//! TAP 3.11 files decode with this model: 3.12 only added items and alternatives.

use crate::ber::Octets;

// ---------------------------------------------------------------------------------------------
// Time stamps
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `DateTime`: a local time stamp and a code into the batch's UTC offset table.
    pub struct DateTime ("DateTime") {
        /// `CCYYMMDDhhmmss` local time.
        local_time_stamp ("localTimeStamp"): Option<Octets> = 16,
        /// Code defined in `NetworkInfo.utcTimeOffsetInfo`.
        utc_time_offset_code ("utcTimeOffsetCode"): Option<i64> = 232,
    }
}

ber_sequence! {
    /// `DateTimeLong`: a local time stamp with its UTC offset written out (`+0100`).
    pub struct DateTimeLong ("DateTimeLong") {
        /// `CCYYMMDDhhmmss` local time.
        local_time_stamp ("localTimeStamp"): Option<Octets> = 16,
        /// `+hhmm` or `-hhmm`.
        utc_time_offset ("utcTimeOffset"): Option<Octets> = 231,
    }
}

// ---------------------------------------------------------------------------------------------
// Batch structure
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `BatchControlInfo` [APPLICATION 4]: who sends what to whom, first in the batch.
    pub struct BatchControlInfo ("batchControlInfo") {
        /// Sending PMN's TADIG code (the visited network).
        sender ("sender"): Option<Octets> = 196,
        /// Receiving PMN's TADIG code (the home network).
        recipient ("recipient"): Option<Octets> = 182,
        /// Five digits, `00001`..`99999`.
        file_sequence_number ("fileSequenceNumber"): Option<Octets> = 109,
        /// When the file was created.
        file_creation_time_stamp ("fileCreationTimeStamp"): Option<DateTimeLong> = 108,
        /// Events up to this time are included.
        transfer_cut_off_time_stamp ("transferCutOffTimeStamp"): Option<DateTimeLong> = 227,
        /// When the file was made available to the recipient.
        file_available_time_stamp ("fileAvailableTimeStamp"): Option<DateTimeLong> = 107,
        /// 3.
        specification_version_number ("specificationVersionNumber"): Option<i64> = 201,
        /// 12 (or 11).
        release_version_number ("releaseVersionNumber"): Option<i64> = 189,
        /// `T` for test data; absent for chargeable (live) data.
        file_type_indicator ("fileTypeIndicator"): Option<Octets> = 110,
        /// Set when re-sending a file returned with a fatal error.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

ber_sequence! {
    /// `Notification` [APPLICATION 2]: "no data this period" in place of a transfer batch.
    pub struct Notification ("notification") {
        /// Sending PMN.
        sender ("sender"): Option<Octets> = 196,
        /// Receiving PMN.
        recipient ("recipient"): Option<Octets> = 182,
        /// Five digits.
        file_sequence_number ("fileSequenceNumber"): Option<Octets> = 109,
        /// Set when re-sending after a fatal return.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// When created.
        file_creation_time_stamp ("fileCreationTimeStamp"): Option<DateTimeLong> = 108,
        /// When made available.
        file_available_time_stamp ("fileAvailableTimeStamp"): Option<DateTimeLong> = 107,
        /// Cut-off.
        transfer_cut_off_time_stamp ("transferCutOffTimeStamp"): Option<DateTimeLong> = 227,
        /// 3.
        specification_version_number ("specificationVersionNumber"): Option<i64> = 201,
        /// 12 (or 11).
        release_version_number ("releaseVersionNumber"): Option<i64> = 189,
        /// `T` for test.
        file_type_indicator ("fileTypeIndicator"): Option<Octets> = 110,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

ber_sequence! {
    /// `Taxation` [APPLICATION 216]: one tax code of the batch.
    pub struct Taxation ("Taxation") {
        /// Code referenced by `TaxInformation.taxCode`.
        tax_code ("taxCode"): Option<i64> = 212,
        /// Two-character tax type.
        tax_type ("taxType"): Option<Octets> = 217,
        /// Seven digits, five decimal places.
        tax_rate ("taxRate"): Option<Octets> = 215,
        /// Charge type the tax applies to.
        charge_type ("chargeType"): Option<Octets> = 71,
        /// Tax indicator.
        tax_indicator ("taxIndicator"): Option<Octets> = 432,
    }
}

ber_choice! {
    /// `DiscountApplied` [APPLICATION 428].
    pub enum DiscountApplied ("discountApplied") {
        /// A fixed amount.
        FixedDiscountValue ("fixedDiscountValue"): i64 = 411,
        /// A rate, two decimal places of percent.
        DiscountRate ("discountRate"): i64 = 92,
    }
}

ber_sequence! {
    /// `Discounting` [APPLICATION 94]: one discount code of the batch.
    pub struct Discounting ("Discounting") {
        /// Code referenced by `DiscountInformation.discountCode`.
        discount_code ("discountCode"): Option<i64> = 91,
        /// What the discount is.
        discount_applied ("discountApplied"): Option<DiscountApplied> = 428,
    }
}

ber_sequence! {
    /// `CurrencyConversion` [APPLICATION 106]: one exchange rate of the batch.
    pub struct CurrencyConversion ("CurrencyConversion") {
        /// Code referenced by `exchangeRateCode` in charge information.
        exchange_rate_code ("exchangeRateCode"): Option<i64> = 105,
        /// Decimal places of `exchange_rate`.
        number_of_decimal_places ("numberOfDecimalPlaces"): Option<i64> = 159,
        /// Local currency per TAP currency unit, scaled.
        exchange_rate ("exchangeRate"): Option<i64> = 104,
    }
}

ber_sequence! {
    /// `AccountingInfo` [APPLICATION 5]: currencies, rates, taxes, discounts, decimal places.
    pub struct AccountingInfo ("accountingInfo") {
        /// Tax codes.
        taxation ("taxation"): Vec<Taxation> = 211 [216],
        /// Discount codes.
        discounting ("discounting"): Vec<Discounting> = 95 [94],
        /// The sender's local currency.
        local_currency ("localCurrency"): Option<Octets> = 135,
        /// Currency of all charges; SDR when absent.
        tap_currency ("tapCurrency"): Option<Octets> = 210,
        /// Exchange rates.
        currency_conversion_info ("currencyConversionInfo"): Vec<CurrencyConversion> = 80 [106],
        /// Decimal places of every AbsoluteAmount in the file, 0..=6.
        tap_decimal_places ("tapDecimalPlaces"): Option<i64> = 244,
    }
}

ber_sequence! {
    /// `UtcTimeOffsetInfo` [APPLICATION 233].
    pub struct UtcTimeOffsetInfo ("UtcTimeOffsetInfo") {
        /// Code referenced by `DateTime.utcTimeOffsetCode`.
        utc_time_offset_code ("utcTimeOffsetCode"): Option<i64> = 232,
        /// `+hhmm` / `-hhmm`.
        utc_time_offset ("utcTimeOffset"): Option<Octets> = 231,
    }
}

ber_sequence! {
    /// `RecEntityInformation` [APPLICATION 183]: a switch, SGSN, GGSN or SMSC.
    pub struct RecEntityInformation ("RecEntityInformation") {
        /// Code referenced by call events.
        rec_entity_code ("recEntityCode"): Option<i64> = 184,
        /// 1 MSC, 2 SMSC, 3 GGSN/P-GW, 4 SGSN, ...
        rec_entity_type ("recEntityType"): Option<i64> = 186,
        /// The network identity.
        rec_entity_id ("recEntityId"): Option<Octets> = 400,
    }
}

ber_sequence! {
    /// `NetworkInfo` [APPLICATION 6]: the batch's UTC offset and recording entity tables.
    pub struct NetworkInfo ("networkInfo") {
        /// UTC offsets.
        utc_time_offset_info ("utcTimeOffsetInfo"): Vec<UtcTimeOffsetInfo> = 234 [233],
        /// Recording entities.
        rec_entity_info ("recEntityInfo"): Vec<RecEntityInformation> = 188 [183],
    }
}

ber_sequence! {
    /// `MessageDescriptionInformation` [APPLICATION 143].
    pub struct MessageDescriptionInformation ("MessageDescriptionInformation") {
        /// Code referenced by service centre usage.
        message_description_code ("messageDescriptionCode"): Option<i64> = 141,
        /// Text.
        message_description ("messageDescription"): Option<Octets> = 142,
    }
}

ber_sequence! {
    /// `TotalAdvisedChargeValue` [APPLICATION 360].
    pub struct TotalAdvisedChargeValue ("TotalAdvisedChargeValue") {
        /// Currency of the advised charges.
        advised_charge_currency ("advisedChargeCurrency"): Option<Octets> = 348,
        /// Sum of advised charges.
        total_advised_charge ("totalAdvisedCharge"): Option<i64> = 356,
        /// Sum of refunded advised charges.
        total_advised_charge_refund ("totalAdvisedChargeRefund"): Option<i64> = 357,
        /// Sum of commissions.
        total_commission ("totalCommission"): Option<i64> = 358,
        /// Sum of refunded commissions.
        total_commission_refund ("totalCommissionRefund"): Option<i64> = 359,
    }
}

ber_sequence! {
    /// `AuditControlInfo` [APPLICATION 15]: the batch's totals, last in the batch.
    pub struct AuditControlInfo ("auditControlInfo") {
        /// Earliest event.
        earliest_call_time_stamp ("earliestCallTimeStamp"): Option<DateTimeLong> = 101,
        /// Latest event.
        latest_call_time_stamp ("latestCallTimeStamp"): Option<DateTimeLong> = 133,
        /// TD.57: charges of charge type 00 outside refunds plus CAMEL invocation fees.
        total_charge ("totalCharge"): Option<i64> = 415,
        /// Refunded charges.
        total_charge_refund ("totalChargeRefund"): Option<i64> = 355,
        /// Refunded taxes.
        total_tax_refund ("totalTaxRefund"): Option<i64> = 353,
        /// Taxes outside refunds.
        total_tax_value ("totalTaxValue"): Option<i64> = 226,
        /// Discounts outside refunds.
        total_discount_value ("totalDiscountValue"): Option<i64> = 225,
        /// Refunded discounts.
        total_discount_refund ("totalDiscountRefund"): Option<i64> = 354,
        /// Advised charge totals per currency.
        total_advised_charge_value_list ("totalAdvisedChargeValueList"): Vec<TotalAdvisedChargeValue> = 361 [360],
        /// Number of call events.
        call_event_details_count ("callEventDetailsCount"): Option<i64> = 43,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

// ---------------------------------------------------------------------------------------------
// Shared groups of call events
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `SimChargeableSubscriber` [APPLICATION 199] and `GsmChargeableSubscriber`
    /// [APPLICATION 286] (same shape).
    pub struct ImsiMsisdn ("SimChargeableSubscriber") {
        /// TBCD IMSI.
        imsi ("imsi"): Option<Octets> = 129,
        /// TBCD MSISDN.
        msisdn ("msisdn"): Option<Octets> = 152,
    }
}

ber_sequence! {
    /// `MinChargeableSubscriber` [APPLICATION 254] (CDMA).
    pub struct MinChargeableSubscriber ("MinChargeableSubscriber") {
        /// Mobile identification number.
        min ("min"): Option<Octets> = 146,
        /// Mobile directory number.
        mdn ("mdn"): Option<Octets> = 253,
    }
}

ber_choice! {
    /// `ChargeableSubscriber` [APPLICATION 427].
    pub enum ChargeableSubscriber ("chargeableSubscriber") {
        /// GSM/UMTS/LTE subscriber.
        Sim ("simChargeableSubscriber"): ImsiMsisdn = 199,
        /// CDMA subscriber.
        Min ("minChargeableSubscriber"): MinChargeableSubscriber = 254,
    }
}

ber_choice! {
    /// `ScuChargeableSubscriber` [APPLICATION 430].
    pub enum ScuChargeableSubscriber ("chargeableSubscriber") {
        /// GSM subscriber.
        Gsm ("gsmChargeableSubscriber"): ImsiMsisdn = 286,
        /// CDMA subscriber.
        Min ("minChargeableSubscriber"): MinChargeableSubscriber = 254,
    }
}

ber_choice! {
    /// `ImeiOrEsn` [APPLICATION 429].
    pub enum ImeiOrEsn ("equipmentIdentifier") {
        /// BCD IMEI.
        Imei ("imei"): Octets = 128,
        /// Electronic serial number.
        Esn ("esn"): Octets = 103,
    }
}

ber_choice! {
    /// `BasicServiceCode` [APPLICATION 426].
    pub enum BasicServiceCode ("serviceCode") {
        /// Two hex characters; `11` telephony, `21` SMS MT, `22` SMS MO, ...
        TeleServiceCode ("teleServiceCode"): Octets = 218,
        /// Two hex characters.
        BearerServiceCode ("bearerServiceCode"): Octets = 40,
    }
}

ber_sequence! {
    /// `GprsDestination` [APPLICATION 116].
    pub struct GprsDestination ("gprsDestination") {
        /// Access point network identifier.
        access_point_name_ni ("accessPointNameNI"): Option<Octets> = 261,
        /// Access point operator identifier.
        access_point_name_oi ("accessPointNameOI"): Option<Octets> = 262,
    }
}

ber_choice! {
    /// `ThreeGcamelDestination` [APPLICATION 431].
    pub enum ThreeGcamelDestination ("threeGcamelDestination") {
        /// BCD number.
        CamelDestinationNumber ("camelDestinationNumber"): Octets = 404,
        /// APN.
        GprsDestination ("gprsDestination"): GprsDestination = 116,
    }
}

ber_sequence! {
    /// `CallTypeGroup` [APPLICATION 258].
    pub struct CallTypeGroup ("callTypeGroup") {
        /// Level 1 (national, international, ...).
        call_type_level1 ("callTypeLevel1"): Option<i64> = 259,
        /// Level 2.
        call_type_level2 ("callTypeLevel2"): Option<i64> = 255,
        /// Level 3.
        call_type_level3 ("callTypeLevel3"): Option<i64> = 256,
    }
}

ber_sequence! {
    /// `ChargeDetail` [APPLICATION 63].
    pub struct ChargeDetail ("ChargeDetail") {
        /// `00` total charge, `01` airtime, `02` toll, ...
        charge_type ("chargeType"): Option<Octets> = 71,
        /// AbsoluteAmount at `tapDecimalPlaces`.
        charge ("charge"): Option<i64> = 62,
        /// Units that could be charged.
        chargeable_units ("chargeableUnits"): Option<i64> = 65,
        /// Units charged (rounded).
        charged_units ("chargedUnits"): Option<i64> = 68,
        /// When a tariff change applied.
        charge_detail_time_stamp ("chargeDetailTimeStamp"): Option<DateTime> = 410,
    }
}

ber_sequence! {
    /// `TaxInformation` [APPLICATION 213].
    pub struct TaxInformation ("TaxInformation") {
        /// Code defined in `AccountingInfo.taxation`.
        tax_code ("taxCode"): Option<i64> = 212,
        /// AbsoluteAmount.
        tax_value ("taxValue"): Option<i64> = 397,
        /// AbsoluteAmount the tax was computed on.
        taxable_amount ("taxableAmount"): Option<i64> = 398,
    }
}

ber_sequence! {
    /// `DiscountInformation` [APPLICATION 96].
    pub struct DiscountInformation ("discountInformation") {
        /// Code defined in `AccountingInfo.discounting`.
        discount_code ("discountCode"): Option<i64> = 91,
        /// AbsoluteAmount.
        discount ("discount"): Option<i64> = 412,
        /// AbsoluteAmount the discount applies to.
        discountable_amount ("discountableAmount"): Option<i64> = 423,
    }
}

ber_sequence! {
    /// `ChargeInformation` [APPLICATION 69].
    pub struct ChargeInformation ("ChargeInformation") {
        /// `D` duration, `V` volume, `E` event, ...
        charged_item ("chargedItem"): Option<Octets> = 66,
        /// Code defined in `AccountingInfo.currencyConversionInfo`.
        exchange_rate_code ("exchangeRateCode"): Option<i64> = 105,
        /// Call type.
        call_type_group ("callTypeGroup"): Option<CallTypeGroup> = 258,
        /// Charges by type.
        charge_detail_list ("chargeDetailList"): Vec<ChargeDetail> = 64 [63],
        /// Taxes.
        tax_information ("taxInformation"): Vec<TaxInformation> = 214 [213],
        /// Discount.
        discount_information ("discountInformation"): Option<DiscountInformation> = 96,
    }
}

ber_sequence! {
    /// `CamelServiceUsed` [APPLICATION 57].
    pub struct CamelServiceUsed ("camelServiceUsed") {
        /// Service level.
        camel_service_level ("camelServiceLevel"): Option<i64> = 56,
        /// Service key.
        camel_service_key ("camelServiceKey"): Option<i64> = 55,
        /// Default call handling.
        default_call_handling ("defaultCallHandling"): Option<i64> = 87,
        /// Exchange rate of the fee.
        exchange_rate_code ("exchangeRateCode"): Option<i64> = 105,
        /// Tax on the fee.
        tax_information ("taxInformation"): Vec<TaxInformation> = 214 [213],
        /// Discount on the fee.
        discount_information ("discountInformation"): Option<DiscountInformation> = 96,
        /// TD.57: counted in totalCharge.
        camel_invocation_fee ("camelInvocationFee"): Option<i64> = 422,
        /// Destination after CAMEL modification.
        three_g_camel_destination ("threeGcamelDestination"): Option<ThreeGcamelDestination> = 431,
        /// CSE data.
        cse_information ("cseInformation"): Option<Octets> = 79,
    }
}

ber_sequence! {
    /// `NetworkLocation` [APPLICATION 156].
    pub struct NetworkLocation ("networkLocation") {
        /// Code defined in `NetworkInfo.recEntityInfo`.
        rec_entity_code ("recEntityCode"): Option<i64> = 184,
        /// Switch call reference.
        call_reference ("callReference"): Option<Octets> = 45,
        /// Location area code.
        location_area ("locationArea"): Option<i64> = 136,
        /// Cell.
        cell_id ("cellId"): Option<i64> = 59,
    }
}

ber_sequence! {
    /// `HomeLocationInformation` [APPLICATION 123].
    pub struct HomeLocationInformation ("homeLocationInformation") {
        /// Home billing identifier.
        home_bid ("homeBid"): Option<Octets> = 122,
        /// Description.
        home_location_description ("homeLocationDescription"): Option<Octets> = 413,
    }
}

ber_sequence! {
    /// `GeographicalLocation` [APPLICATION 113].
    pub struct GeographicalLocation ("geographicalLocation") {
        /// Serving network name.
        serving_network ("servingNetwork"): Option<Octets> = 195,
        /// Serving billing identifier.
        serving_bid ("servingBid"): Option<Octets> = 198,
        /// Description.
        serving_location_description ("servingLocationDescription"): Option<Octets> = 414,
    }
}

ber_sequence! {
    /// `LocationInformation` [APPLICATION 138].
    pub struct LocationInformation ("locationInformation") {
        /// Where in the network.
        network_location ("networkLocation"): Option<NetworkLocation> = 156,
        /// Home zone.
        home_location_information ("homeLocationInformation"): Option<HomeLocationInformation> = 123,
        /// Geography.
        geographical_location ("geographicalLocation"): Option<GeographicalLocation> = 113,
    }
}

ber_sequence! {
    /// `BasicService` [APPLICATION 36].
    pub struct BasicService ("basicService") {
        /// Tele or bearer service.
        service_code ("serviceCode"): Option<BasicServiceCode> = 426,
        /// Transparency.
        transparency_indicator ("transparencyIndicator"): Option<i64> = 228,
        /// Fixed network user rate.
        fnur ("fnur"): Option<i64> = 111,
        /// User protocol.
        user_protocol_indicator ("userProtocolIndicator"): Option<i64> = 280,
        /// Guaranteed bit rate.
        guaranteed_bit_rate ("guaranteedBitRate"): Option<Octets> = 420,
        /// Maximum bit rate.
        maximum_bit_rate ("maximumBitRate"): Option<Octets> = 421,
    }
}

ber_sequence! {
    /// `BasicServiceUsed` [APPLICATION 39].
    pub struct BasicServiceUsed ("BasicServiceUsed") {
        /// The service.
        basic_service ("basicService"): Option<BasicService> = 36,
        /// When charging started.
        charging_time_stamp ("chargingTimeStamp"): Option<DateTime> = 74,
        /// Charges.
        charge_information_list ("chargeInformationList"): Vec<ChargeInformation> = 70 [69],
        /// HSCSD.
        hscsd_indicator ("hSCSDIndicator"): Option<Octets> = 424,
    }
}

ber_sequence! {
    /// `Destination` [APPLICATION 89].
    pub struct Destination ("destination") {
        /// BCD called number.
        called_number ("calledNumber"): Option<Octets> = 407,
        /// Digits as dialled.
        dialled_digits ("dialledDigits"): Option<Octets> = 279,
        /// Place name.
        called_place ("calledPlace"): Option<Octets> = 42,
        /// Region name.
        called_region ("calledRegion"): Option<Octets> = 46,
        /// SMS destination.
        sms_destination_number ("sMSDestinationNumber"): Option<Octets> = 419,
    }
}

ber_sequence! {
    /// `ThirdPartyInformation` [APPLICATION 219].
    pub struct ThirdPartyInformation ("thirdPartyInformation") {
        /// BCD number.
        third_party_number ("thirdPartyNumber"): Option<Octets> = 403,
        /// CLIR.
        clir_indicator ("clirIndicator"): Option<i64> = 75,
    }
}

ber_sequence! {
    /// `CallOriginator` [APPLICATION 41].
    pub struct CallOriginator ("callOriginator") {
        /// BCD calling number.
        calling_number ("callingNumber"): Option<Octets> = 405,
        /// CLIR.
        clir_indicator ("clirIndicator"): Option<i64> = 75,
        /// SMS originator.
        sms_originator ("sMSOriginator"): Option<Octets> = 425,
    }
}

// ---------------------------------------------------------------------------------------------
// Mobile originated and terminated calls
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `MoBasicCallInformation` [APPLICATION 147].
    pub struct MoBasicCallInformation ("basicCallInformation") {
        /// Who pays.
        chargeable_subscriber ("chargeableSubscriber"): Option<ChargeableSubscriber> = 427,
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// Called party.
        destination ("destination"): Option<Destination> = 89,
        /// Destination network.
        destination_network ("destinationNetwork"): Option<Octets> = 90,
        /// Start.
        call_event_start_time_stamp ("callEventStartTimeStamp"): Option<DateTime> = 44,
        /// Seconds.
        total_call_event_duration ("totalCallEventDuration"): Option<i64> = 223,
        /// SIM toolkit.
        sim_toolkit_indicator ("simToolkitIndicator"): Option<Octets> = 200,
        /// Cause for termination.
        cause_for_term ("causeForTerm"): Option<i64> = 58,
    }
}

ber_sequence! {
    /// `MobileOriginatedCall` [APPLICATION 9].
    pub struct MobileOriginatedCall ("mobileOriginatedCall") {
        /// Subscriber, destination, time.
        basic_call_information ("basicCallInformation"): Option<MoBasicCallInformation> = 147,
        /// Where.
        location_information ("locationInformation"): Option<LocationInformation> = 138,
        /// Handset.
        equipment_identifier ("equipmentIdentifier"): Option<ImeiOrEsn> = 429,
        /// Services and charges.
        basic_service_used_list ("basicServiceUsedList"): Vec<BasicServiceUsed> = 38 [39],
        /// Supplementary service.
        suppl_service_code ("supplServiceCode"): Option<Octets> = 209,
        /// Third party.
        third_party_information ("thirdPartyInformation"): Option<ThirdPartyInformation> = 219,
        /// CAMEL.
        camel_service_used ("camelServiceUsed"): Option<CamelServiceUsed> = 57,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

ber_sequence! {
    /// `MtBasicCallInformation` [APPLICATION 153].
    pub struct MtBasicCallInformation ("basicCallInformation") {
        /// Who pays.
        chargeable_subscriber ("chargeableSubscriber"): Option<ChargeableSubscriber> = 427,
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// Calling party.
        call_originator ("callOriginator"): Option<CallOriginator> = 41,
        /// Originating network.
        originating_network ("originatingNetwork"): Option<Octets> = 164,
        /// Start.
        call_event_start_time_stamp ("callEventStartTimeStamp"): Option<DateTime> = 44,
        /// Seconds.
        total_call_event_duration ("totalCallEventDuration"): Option<i64> = 223,
        /// SIM toolkit.
        sim_toolkit_indicator ("simToolkitIndicator"): Option<Octets> = 200,
        /// Cause for termination.
        cause_for_term ("causeForTerm"): Option<i64> = 58,
    }
}

ber_sequence! {
    /// `MobileTerminatedCall` [APPLICATION 10].
    pub struct MobileTerminatedCall ("mobileTerminatedCall") {
        /// Subscriber, originator, time.
        basic_call_information ("basicCallInformation"): Option<MtBasicCallInformation> = 153,
        /// Where.
        location_information ("locationInformation"): Option<LocationInformation> = 138,
        /// Handset.
        equipment_identifier ("equipmentIdentifier"): Option<ImeiOrEsn> = 429,
        /// Services and charges.
        basic_service_used_list ("basicServiceUsedList"): Vec<BasicServiceUsed> = 38 [39],
        /// CAMEL.
        camel_service_used ("camelServiceUsed"): Option<CamelServiceUsed> = 57,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

// ---------------------------------------------------------------------------------------------
// Supplementary services and service centre usage
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `SupplServiceUsed` [APPLICATION 206].
    pub struct SupplServiceUsed ("supplServiceUsed") {
        /// Two hex characters.
        suppl_service_code ("supplServiceCode"): Option<Octets> = 209,
        /// Registration, activation, ...
        suppl_service_action_code ("supplServiceActionCode"): Option<i64> = 208,
        /// Parameters.
        ss_parameters ("ssParameters"): Option<Octets> = 204,
        /// When.
        charging_time_stamp ("chargingTimeStamp"): Option<DateTime> = 74,
        /// Charges.
        charge_information ("chargeInformation"): Option<ChargeInformation> = 69,
        /// Basic services affected.
        basic_service_code_list ("basicServiceCodeList"): Vec<BasicServiceCode> = 37 [426],
    }
}

ber_sequence! {
    /// `SupplServiceEvent` [APPLICATION 11].
    pub struct SupplServiceEvent ("supplServiceEvent") {
        /// Who pays.
        chargeable_subscriber ("chargeableSubscriber"): Option<ChargeableSubscriber> = 427,
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// Where.
        location_information ("locationInformation"): Option<LocationInformation> = 138,
        /// Handset.
        equipment_identifier ("equipmentIdentifier"): Option<ImeiOrEsn> = 429,
        /// The service and its charge.
        suppl_service_used ("supplServiceUsed"): Option<SupplServiceUsed> = 206,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

ber_sequence! {
    /// `ScuBasicInformation` [APPLICATION 191].
    pub struct ScuBasicInformation ("basicInformation") {
        /// Who pays.
        chargeable_subscriber ("chargeableSubscriber"): Option<ScuChargeableSubscriber> = 430,
        /// Originator or recipient.
        charged_party_status ("chargedPartyStatus"): Option<i64> = 67,
        /// The other party.
        non_charged_number ("nonChargedNumber"): Option<Octets> = 402,
        /// CLIR.
        clir_indicator ("clirIndicator"): Option<i64> = 75,
        /// Originating network.
        originating_network ("originatingNetwork"): Option<Octets> = 164,
        /// Destination network.
        destination_network ("destinationNetwork"): Option<Octets> = 90,
    }
}

ber_sequence! {
    /// `ScuChargeType` [APPLICATION 192].
    pub struct ScuChargeType ("scuChargeType") {
        /// Message status.
        message_status ("messageStatus"): Option<i64> = 144,
        /// Priority.
        priority_code ("priorityCode"): Option<i64> = 170,
        /// Distance band.
        distance_charge_band_code ("distanceChargeBandCode"): Option<Octets> = 98,
        /// Message type.
        message_type ("messageType"): Option<i64> = 145,
        /// Code defined in `messageDescriptionInfo`.
        message_description_code ("messageDescriptionCode"): Option<i64> = 141,
    }
}

ber_sequence! {
    /// `ScuTimeStamps` [APPLICATION 193].
    pub struct ScuTimeStamps ("scuTimeStamps") {
        /// Deposit at the SMSC.
        deposit_time_stamp ("depositTimeStamp"): Option<DateTime> = 88,
        /// Delivery.
        completion_time_stamp ("completionTimeStamp"): Option<DateTime> = 76,
        /// Charging point.
        charging_point ("chargingPoint"): Option<Octets> = 73,
    }
}

ber_sequence! {
    /// `ServiceCentreUsage` [APPLICATION 12].
    pub struct ServiceCentreUsage ("serviceCentreUsage") {
        /// Subscriber and parties.
        basic_information ("basicInformation"): Option<ScuBasicInformation> = 191,
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// Serving network.
        serving_network ("servingNetwork"): Option<Octets> = 195,
        /// The SMSC.
        rec_entity_code ("recEntityCode"): Option<i64> = 184,
        /// Charges.
        charge_information ("chargeInformation"): Option<ChargeInformation> = 69,
        /// Message type.
        scu_charge_type ("scuChargeType"): Option<ScuChargeType> = 192,
        /// Times.
        scu_time_stamps ("scuTimeStamps"): Option<ScuTimeStamps> = 193,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

// ---------------------------------------------------------------------------------------------
// GPRS
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `GprsChargeableSubscriber` [APPLICATION 115].
    pub struct GprsChargeableSubscriber ("gprsChargeableSubscriber") {
        /// Who pays.
        chargeable_subscriber ("chargeableSubscriber"): Option<ChargeableSubscriber> = 427,
        /// PDP address.
        pdp_address ("pdpAddress"): Option<Octets> = 167,
        /// NAI.
        network_access_identifier ("networkAccessIdentifier"): Option<Octets> = 417,
    }
}

ber_sequence! {
    /// `GprsBasicCallInformation` [APPLICATION 114].
    pub struct GprsBasicCallInformation ("gprsBasicCallInformation") {
        /// Who pays.
        gprs_chargeable_subscriber ("gprsChargeableSubscriber"): Option<GprsChargeableSubscriber> = 115,
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// APN.
        gprs_destination ("gprsDestination"): Option<GprsDestination> = 116,
        /// Start.
        call_event_start_time_stamp ("callEventStartTimeStamp"): Option<DateTime> = 44,
        /// Seconds.
        total_call_event_duration ("totalCallEventDuration"): Option<i64> = 223,
        /// Cause for termination.
        cause_for_term ("causeForTerm"): Option<i64> = 58,
        /// Partial record.
        partial_type_indicator ("partialTypeIndicator"): Option<Octets> = 166,
        /// PDP context start.
        pdp_context_start_timestamp ("pDPContextStartTimestamp"): Option<DateTime> = 260,
        /// Network-initiated context.
        network_init_pdp_context ("networkInitPDPContext"): Option<i64> = 245,
        /// Charging id.
        charging_id ("chargingId"): Option<i64> = 72,
    }
}

ber_sequence! {
    /// `GprsNetworkLocation` [APPLICATION 118].
    pub struct GprsNetworkLocation ("gprsNetworkLocation") {
        /// SGSN / GGSN codes.
        rec_entity ("recEntity"): Vec<i64> = 185 [184],
        /// Location area.
        location_area ("locationArea"): Option<i64> = 136,
        /// Cell.
        cell_id ("cellId"): Option<i64> = 59,
    }
}

ber_sequence! {
    /// `GprsLocationInformation` [APPLICATION 117].
    pub struct GprsLocationInformation ("gprsLocationInformation") {
        /// Network.
        gprs_network_location ("gprsNetworkLocation"): Option<GprsNetworkLocation> = 118,
        /// Home zone.
        home_location_information ("homeLocationInformation"): Option<HomeLocationInformation> = 123,
        /// Geography.
        geographical_location ("geographicalLocation"): Option<GeographicalLocation> = 113,
    }
}

ber_sequence! {
    /// `GprsServiceUsed` [APPLICATION 121].
    pub struct GprsServiceUsed ("gprsServiceUsed") {
        /// IMS signalling.
        ims_signalling_context ("iMSSignallingContext"): Option<i64> = 418,
        /// Bytes to the subscriber.
        data_volume_incoming ("dataVolumeIncoming"): Option<i64> = 250,
        /// Bytes from the subscriber.
        data_volume_outgoing ("dataVolumeOutgoing"): Option<i64> = 251,
        /// Charges.
        charge_information_list ("chargeInformationList"): Vec<ChargeInformation> = 70 [69],
    }
}

ber_sequence! {
    /// `GprsCall` [APPLICATION 14].
    pub struct GprsCall ("gprsCall") {
        /// Subscriber, APN, time.
        gprs_basic_call_information ("gprsBasicCallInformation"): Option<GprsBasicCallInformation> = 114,
        /// Where.
        gprs_location_information ("gprsLocationInformation"): Option<GprsLocationInformation> = 117,
        /// Handset.
        equipment_identifier ("equipmentIdentifier"): Option<ImeiOrEsn> = 429,
        /// Volumes and charges.
        gprs_service_used ("gprsServiceUsed"): Option<GprsServiceUsed> = 121,
        /// CAMEL.
        camel_service_used ("camelServiceUsed"): Option<CamelServiceUsed> = 57,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

// ---------------------------------------------------------------------------------------------
// Content transactions
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `ContentTransactionBasicInfo` [APPLICATION 304].
    pub struct ContentTransactionBasicInfo ("contentTransactionBasicInfo") {
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// Order.
        order_placed_time_stamp ("orderPlacedTimeStamp"): Option<DateTime> = 300,
        /// Requested delivery.
        requested_delivery_time_stamp ("requestedDeliveryTimeStamp"): Option<DateTime> = 301,
        /// Actual delivery.
        actual_delivery_time_stamp ("actualDeliveryTimeStamp"): Option<DateTime> = 302,
        /// Seconds.
        total_transaction_duration ("totalTransactionDuration"): Option<i64> = 416,
        /// Status.
        transaction_status ("transactionStatus"): Option<i64> = 303,
    }
}

ber_sequence! {
    /// `ChargedPartyIdentification` [APPLICATION 309].
    pub struct ChargedPartyIdentification ("ChargedPartyIdentification") {
        /// 1 MSISDN, 2 IMSI, ...
        charged_party_id_type ("chargedPartyIdType"): Option<i64> = 305,
        /// The identifier.
        charged_party_identifier ("chargedPartyIdentifier"): Option<Octets> = 287,
    }
}

ber_sequence! {
    /// `ChargedPartyHomeIdentification` [APPLICATION 313], `TrackingCustomerHomeId`
    /// [APPLICATION 366] and `TrackedCustomerHomeId` [APPLICATION 377] (same shape).
    pub struct HomeIdentification ("HomeIdentification") {
        /// Identifier type.
        home_id_type ("homeIdType"): Option<i64> = 311,
        /// Identifier.
        home_identifier ("homeIdentifier"): Option<Octets> = 288,
    }
}

ber_sequence! {
    /// `ChargedPartyLocation` [APPLICATION 320], `TrackingCustomerLocation` [APPLICATION 369]
    /// and `TrackedCustomerLocation` [APPLICATION 380] (same shape).
    pub struct LocationIdentification ("LocationIdentification") {
        /// Identifier type.
        location_id_type ("locationIdType"): Option<i64> = 315,
        /// Identifier.
        location_identifier ("locationIdentifier"): Option<Octets> = 289,
    }
}

ber_sequence! {
    /// `ChargedPartyEquipment` [APPLICATION 323], `TrackingCustomerEquipment` [APPLICATION 371]
    /// and `TrackedCustomerEquipment` [APPLICATION 381] (same shape).
    pub struct EquipmentIdentification ("EquipmentIdentification") {
        /// Identifier type.
        equipment_id_type ("equipmentIdType"): Option<i64> = 322,
        /// Identifier.
        equipment_id ("equipmentId"): Option<Octets> = 290,
    }
}

ber_sequence! {
    /// `ChargedPartyInformation` [APPLICATION 324].
    pub struct ChargedPartyInformation ("chargedPartyInformation") {
        /// Identities of the charged party.
        charged_party_id_list ("chargedPartyIdList"): Vec<ChargedPartyIdentification> = 310 [309],
        /// Home identities.
        charged_party_home_id_list ("chargedPartyHomeIdList"): Vec<HomeIdentification> = 314 [313],
        /// Locations.
        charged_party_location_list ("chargedPartyLocationList"): Vec<LocationIdentification> = 321 [320],
        /// Equipment.
        charged_party_equipment ("chargedPartyEquipment"): Option<EquipmentIdentification> = 323,
    }
}

ber_sequence! {
    /// `ContentProvider` [APPLICATION 327] and `LCSSPIdentification` [APPLICATION 375] (same
    /// shape).
    pub struct ContentProvider ("ContentProvider") {
        /// Identifier type.
        content_provider_id_type ("contentProviderIdType"): Option<i64> = 291,
        /// Identifier.
        content_provider_identifier ("contentProviderIdentifier"): Option<Octets> = 292,
    }
}

ber_sequence! {
    /// `InternetServiceProvider` [APPLICATION 329].
    pub struct InternetServiceProvider ("InternetServiceProvider") {
        /// Identifier type.
        isp_id_type ("ispIdType"): Option<i64> = 293,
        /// Identifier.
        isp_identifier ("ispIdentifier"): Option<Octets> = 294,
    }
}

ber_sequence! {
    /// `Network` [APPLICATION 332].
    pub struct Network ("Network") {
        /// Identifier type.
        network_id_type ("networkIdType"): Option<i64> = 331,
        /// Identifier.
        network_identifier ("networkIdentifier"): Option<Octets> = 295,
    }
}

ber_sequence! {
    /// `ServingPartiesInformation` [APPLICATION 335].
    pub struct ServingPartiesInformation ("servingPartiesInformation") {
        /// Content provider.
        content_provider_name ("contentProviderName"): Option<Octets> = 334,
        /// Provider identities.
        content_provider_id_list ("contentProviderIdList"): Vec<ContentProvider> = 328 [327],
        /// ISPs.
        internet_service_provider_id_list ("internetServiceProviderIdList"): Vec<InternetServiceProvider> = 330 [329],
        /// Networks.
        network_list ("networkList"): Vec<Network> = 333 [332],
    }
}

ber_sequence! {
    /// `AdvisedChargeInformation` [APPLICATION 351].
    pub struct AdvisedChargeInformation ("advisedChargeInformation") {
        /// Paid.
        paid_indicator ("paidIndicator"): Option<i64> = 346,
        /// Payment method.
        payment_method ("paymentMethod"): Option<i64> = 347,
        /// Currency.
        advised_charge_currency ("advisedChargeCurrency"): Option<Octets> = 348,
        /// Amount (information only: not part of totalCharge).
        advised_charge ("advisedCharge"): Option<i64> = 349,
        /// Commission.
        commission ("commission"): Option<i64> = 350,
    }
}

ber_sequence! {
    /// `ContentServiceUsed` [APPLICATION 352].
    pub struct ContentServiceUsed ("ContentServiceUsed") {
        /// Code.
        content_transaction_code ("contentTransactionCode"): Option<i64> = 336,
        /// Type.
        content_transaction_type ("contentTransactionType"): Option<i64> = 337,
        /// Object type.
        object_type ("objectType"): Option<i64> = 281,
        /// Description code.
        transaction_description_supp ("transactionDescriptionSupp"): Option<i64> = 338,
        /// Short description.
        transaction_short_description ("transactionShortDescription"): Option<Octets> = 340,
        /// Detail description.
        transaction_detail_description ("transactionDetailDescription"): Option<Octets> = 339,
        /// Transaction id.
        transaction_identifier ("transactionIdentifier"): Option<Octets> = 341,
        /// Authorisation code.
        transaction_auth_code ("transactionAuthCode"): Option<Octets> = 342,
        /// Bytes in.
        data_volume_incoming ("dataVolumeIncoming"): Option<i64> = 250,
        /// Bytes out.
        data_volume_outgoing ("dataVolumeOutgoing"): Option<i64> = 251,
        /// Total bytes.
        total_data_volume ("totalDataVolume"): Option<i64> = 343,
        /// Present when this service's charges are a refund (TD.57: counted in
        /// totalChargeRefund, not totalCharge).
        charge_refund_indicator ("chargeRefundIndicator"): Option<i64> = 344,
        /// Charging point.
        content_charging_point ("contentChargingPoint"): Option<i64> = 345,
        /// Charges.
        charge_information_list ("chargeInformationList"): Vec<ChargeInformation> = 70 [69],
        /// Advised charge.
        advised_charge_information ("advisedChargeInformation"): Option<AdvisedChargeInformation> = 351,
    }
}

ber_sequence! {
    /// `ContentTransaction` [APPLICATION 17].
    pub struct ContentTransaction ("contentTransaction") {
        /// Times and status.
        content_transaction_basic_info ("contentTransactionBasicInfo"): Option<ContentTransactionBasicInfo> = 304,
        /// Who pays.
        charged_party_information ("chargedPartyInformation"): Option<ChargedPartyInformation> = 324,
        /// Who served.
        serving_parties_information ("servingPartiesInformation"): Option<ServingPartiesInformation> = 335,
        /// Services and charges.
        content_service_used ("contentServiceUsed"): Vec<ContentServiceUsed> = 285 [352],
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

// ---------------------------------------------------------------------------------------------
// Location services
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `TrackingCustomerIdentification` [APPLICATION 362] and `TrackedCustomerIdentification`
    /// [APPLICATION 372] (same shape).
    pub struct CustomerIdentification ("CustomerIdentification") {
        /// 1 MSISDN, 2 IMSI, ...
        customer_id_type ("customerIdType"): Option<i64> = 363,
        /// Identifier.
        customer_identifier ("customerIdentifier"): Option<Octets> = 364,
    }
}

ber_sequence! {
    /// `TrackingCustomerInformation` [APPLICATION 298].
    pub struct TrackingCustomerInformation ("trackingCustomerInformation") {
        /// Identities.
        tracking_customer_id_list ("trackingCustomerIdList"): Vec<CustomerIdentification> = 299 [362],
        /// Home identities.
        tracking_customer_home_id_list ("trackingCustomerHomeIdList"): Vec<HomeIdentification> = 365 [366],
        /// Locations.
        tracking_customer_loc_list ("trackingCustomerLocList"): Vec<LocationIdentification> = 368 [369],
        /// Equipment.
        tracking_customer_equipment ("trackingCustomerEquipment"): Option<EquipmentIdentification> = 371,
    }
}

ber_sequence! {
    /// `TrackedCustomerInformation` [APPLICATION 367].
    pub struct TrackedCustomerInformation ("trackedCustomerInformation") {
        /// Identities.
        tracked_customer_id_list ("trackedCustomerIdList"): Vec<CustomerIdentification> = 370 [372],
        /// Home identities.
        tracked_customer_home_id_list ("trackedCustomerHomeIdList"): Vec<HomeIdentification> = 376 [377],
        /// Locations.
        tracked_customer_loc_list ("trackedCustomerLocList"): Vec<LocationIdentification> = 379 [380],
        /// Equipment.
        tracked_customer_equipment ("trackedCustomerEquipment"): Option<EquipmentIdentification> = 381,
    }
}

ber_sequence! {
    /// `LCSSPInformation` [APPLICATION 373].
    pub struct LcsSpInformation ("lCSSPInformation") {
        /// Service providers.
        lcs_sp_identification_list ("lCSSPIdentificationList"): Vec<ContentProvider> = 374 [375],
        /// ISPs.
        isp_list ("iSPList"): Vec<InternetServiceProvider> = 378 [329],
        /// Networks.
        network_list ("networkList"): Vec<Network> = 333 [332],
    }
}

ber_sequence! {
    /// `LCSQosRequested` [APPLICATION 383].
    pub struct LcsQosRequested ("lCSQosRequested") {
        /// When requested.
        lcs_request_timestamp ("lCSRequestTimestamp"): Option<DateTime> = 384,
        /// Metres.
        horizontal_accuracy_requested ("horizontalAccuracyRequested"): Option<i64> = 385,
        /// Metres.
        vertical_accuracy_requested ("verticalAccuracyRequested"): Option<i64> = 386,
        /// Category.
        response_time_category ("responseTimeCategory"): Option<i64> = 387,
        /// Period.
        tracking_period ("trackingPeriod"): Option<i64> = 388,
        /// Frequency.
        tracking_frequency ("trackingFrequency"): Option<i64> = 389,
    }
}

ber_sequence! {
    /// `LCSQosDelivered` [APPLICATION 390].
    pub struct LcsQosDelivered ("lCSQosDelivered") {
        /// Status.
        lcs_transaction_status ("lCSTransactionStatus"): Option<i64> = 391,
        /// Metres.
        horizontal_accuracy_delivered ("horizontalAccuracyDelivered"): Option<i64> = 392,
        /// Metres.
        vertical_accuracy_delivered ("verticalAccuracyDelivered"): Option<i64> = 393,
        /// Seconds.
        response_time ("responseTime"): Option<i64> = 394,
        /// Method.
        positioning_method ("positioningMethod"): Option<i64> = 395,
        /// Period.
        tracking_period ("trackingPeriod"): Option<i64> = 388,
        /// Frequency.
        tracking_frequency ("trackingFrequency"): Option<i64> = 389,
        /// Age.
        age_of_location ("ageOfLocation"): Option<i64> = 396,
    }
}

ber_sequence! {
    /// `LocationServiceUsage` [APPLICATION 382].
    pub struct LocationServiceUsage ("locationServiceUsage") {
        /// Request.
        lcs_qos_requested ("lCSQosRequested"): Option<LcsQosRequested> = 383,
        /// Delivery.
        lcs_qos_delivered ("lCSQosDelivered"): Option<LcsQosDelivered> = 390,
        /// When charged.
        charging_time_stamp ("chargingTimeStamp"): Option<DateTime> = 74,
        /// Charges.
        charge_information_list ("chargeInformationList"): Vec<ChargeInformation> = 70 [69],
    }
}

ber_sequence! {
    /// `LocationService` [APPLICATION 297].
    pub struct LocationService ("locationService") {
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// The GMLC.
        rec_entity_code ("recEntityCode"): Option<i64> = 184,
        /// Reference.
        call_reference ("callReference"): Option<Octets> = 45,
        /// Who asked (and pays).
        tracking_customer_information ("trackingCustomerInformation"): Option<TrackingCustomerInformation> = 298,
        /// Service provider.
        lcs_sp_information ("lCSSPInformation"): Option<LcsSpInformation> = 373,
        /// Who was located.
        tracked_customer_information ("trackedCustomerInformation"): Option<TrackedCustomerInformation> = 367,
        /// Quality and charges.
        location_service_usage ("locationServiceUsage"): Option<LocationServiceUsage> = 382,
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

// ---------------------------------------------------------------------------------------------
// IMS: messaging events and mobile sessions (TAP 3.12)
// ---------------------------------------------------------------------------------------------

ber_sequence! {
    /// `ChargedParty` [APPLICATION 436].
    pub struct ChargedParty ("chargedParty") {
        /// TBCD IMSI.
        imsi ("imsi"): Option<Octets> = 129,
        /// TBCD MSISDN.
        msisdn ("msisdn"): Option<Octets> = 152,
        /// SIP URI.
        public_user_id ("publicUserId"): Option<Octets> = 446,
        /// Home billing identifier.
        home_bid ("homeBid"): Option<Octets> = 122,
        /// Description.
        home_location_description ("homeLocationDescription"): Option<Octets> = 413,
        /// BCD IMEI.
        imei ("imei"): Option<Octets> = 128,
    }
}

ber_sequence! {
    /// `NetworkElement` [APPLICATION 441].
    pub struct NetworkElement ("NetworkElement") {
        /// Type.
        element_type ("elementType"): Option<i64> = 438,
        /// Identifier.
        element_id ("elementId"): Option<Octets> = 437,
    }
}

ber_sequence! {
    /// `NonChargedParty` [APPLICATION 443].
    pub struct NonChargedParty ("nonChargedParty") {
        /// BCD number.
        non_charged_party_number ("nonChargedPartyNumber"): Option<Octets> = 444,
        /// SIP URI.
        non_charged_public_user_id ("nonChargedPublicUserId"): Option<Octets> = 445,
    }
}

ber_sequence! {
    /// `RequestedDestination` [APPLICATION 450].
    pub struct RequestedDestination ("requestedDestination") {
        /// BCD number.
        requested_number ("requestedNumber"): Option<Octets> = 451,
        /// SIP URI.
        requested_public_user_id ("requestedPublicUserId"): Option<Octets> = 452,
    }
}

ber_sequence! {
    /// `SessionChargeInformation` [APPLICATION 449].
    pub struct SessionChargeInformation ("SessionChargeInformation") {
        /// Charged item.
        charged_item ("chargedItem"): Option<Octets> = 66,
        /// Exchange rate.
        exchange_rate_code ("exchangeRateCode"): Option<i64> = 105,
        /// Call type.
        call_type_group ("callTypeGroup"): Option<CallTypeGroup> = 258,
        /// Charges by type.
        charge_detail_list ("chargeDetailList"): Vec<ChargeDetail> = 64 [63],
        /// Taxes.
        tax_information_list ("taxInformationList"): Vec<TaxInformation> = 214 [213],
    }
}

ber_sequence! {
    /// `MessagingEvent` [APPLICATION 433].
    pub struct MessagingEvent ("messagingEvent") {
        /// Service.
        messaging_event_service ("messagingEventService"): Option<i64> = 439,
        /// Who pays.
        charged_party ("chargedParty"): Option<ChargedParty> = 436,
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// SIM toolkit.
        sim_toolkit_indicator ("simToolkitIndicator"): Option<Octets> = 200,
        /// Geography.
        geographical_location ("geographicalLocation"): Option<GeographicalLocation> = 113,
        /// Reference.
        event_reference ("eventReference"): Option<Octets> = 435,
        /// Recording entities.
        rec_entity_code_list ("recEntityCodeList"): Vec<i64> = 185 [184],
        /// Network elements.
        network_element_list ("networkElementList"): Vec<NetworkElement> = 442 [441],
        /// Location area.
        location_area ("locationArea"): Option<i64> = 136,
        /// Cell.
        cell_id ("cellId"): Option<i64> = 59,
        /// Start.
        service_start_timestamp ("serviceStartTimestamp"): Option<DateTime> = 447,
        /// Other party.
        non_charged_party ("nonChargedParty"): Option<NonChargedParty> = 443,
        /// Exchange rate.
        exchange_rate_code ("exchangeRateCode"): Option<i64> = 105,
        /// Call type.
        call_type_group ("callTypeGroup"): Option<CallTypeGroup> = 258,
        /// The charge (the whole event's; no charge type).
        charge ("charge"): Option<i64> = 62,
        /// Taxes.
        tax_information_list ("taxInformationList"): Vec<TaxInformation> = 214 [213],
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}

ber_sequence! {
    /// `MobileSession` [APPLICATION 434].
    pub struct MobileSession ("mobileSession") {
        /// Service.
        mobile_session_service ("mobileSessionService"): Option<i64> = 440,
        /// Who pays.
        charged_party ("chargedParty"): Option<ChargedParty> = 436,
        /// Set on re-submission after RAP.
        rap_file_sequence_number ("rapFileSequenceNumber"): Option<Octets> = 181,
        /// SIM toolkit.
        sim_toolkit_indicator ("simToolkitIndicator"): Option<Octets> = 200,
        /// Geography.
        geographical_location ("geographicalLocation"): Option<GeographicalLocation> = 113,
        /// Location area.
        location_area ("locationArea"): Option<i64> = 136,
        /// Cell.
        cell_id ("cellId"): Option<i64> = 59,
        /// Reference.
        event_reference ("eventReference"): Option<Octets> = 435,
        /// Recording entities.
        rec_entity_code_list ("recEntityCodeList"): Vec<i64> = 185 [184],
        /// Start.
        service_start_timestamp ("serviceStartTimestamp"): Option<DateTime> = 447,
        /// Cause for termination.
        cause_for_term ("causeForTerm"): Option<i64> = 58,
        /// Seconds.
        total_call_event_duration ("totalCallEventDuration"): Option<i64> = 223,
        /// Other party.
        non_charged_party ("nonChargedParty"): Option<NonChargedParty> = 443,
        /// Requested destination.
        requested_destination ("requestedDestination"): Option<RequestedDestination> = 450,
        /// Charges.
        session_charge_info_list ("sessionChargeInfoList"): Vec<SessionChargeInformation> = 448 [449],
        /// Free text.
        operator_spec_information ("operatorSpecInformation"): Vec<Octets> = 162 [163],
    }
}
